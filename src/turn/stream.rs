//! STUN/TURN over a byte stream (TCP, or TLS after the HTTPS listener handed it over): cuts the
//! stream into whole messages (RFC 8656 §12.6 framing) and writes what the actor sends back.
//! A STUN message is 20 bytes of header plus its length; ChannelData is 4 bytes plus its
//! length, padded to a multiple of 4 over streams.

use std::future::Future;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Longest frame accepted (the largest STUN/ChannelData message plus padding).
const MAX_FRAME: usize = 65_536 + 8;
/// A client that sends nothing for this long is dropped (allocations refresh every few minutes).
const IDLE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The length of the frame that starts `buf`, once its header is there.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 4 {
        return None;
    }
    let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    match buf[0] >> 6 {
        0 => Some(20 + len),
        1 => Some(4 + len.div_ceil(4) * 4),
        _ => Some(0), // neither STUN nor ChannelData: the stream is garbage
    }
}

/// Runs one stream until either side ends: frames go to `deliver` (false stops), and
/// what arrives on `outgoing` is written.
pub async fn run<S, F, Fut>(
    s: S,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
    stop: CancellationToken,
    deliver: F,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    F: Fn(Vec<u8>) -> Fut,
    Fut: Future<Output = bool>,
{
    let (mut r, mut w) = tokio::io::split(s);
    let writer_stop = stop.child_token();
    let wstop = writer_stop.clone();
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = wstop.cancelled() => break,
                m = outgoing.recv() => match m {
                    Some(bytes) => {
                        if w.write_all(&bytes).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                },
            }
        }
        let _ = w.shutdown().await;
    });
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    'read: loop {
        let n = tokio::select! {
            _ = stop.cancelled() => break,
            r = tokio::time::timeout(IDLE, r.read(&mut chunk)) => match r {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => n,
            },
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Some(len) = frame_len(&buf) {
            if len == 0 || len > MAX_FRAME {
                break 'read;
            }
            if buf.len() < len {
                break;
            }
            let frame: Vec<u8> = buf.drain(..len).collect();
            if !deliver(frame).await {
                break 'read;
            }
        }
    }
    writer_stop.cancel();
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn frames() {
        assert_eq!(super::frame_len(&[0, 1, 0, 8]), Some(28));
        assert_eq!(
            super::frame_len(&[0x40, 0, 0, 5]),
            Some(12),
            "ChannelData padded"
        );
        assert_eq!(super::frame_len(&[0x40, 0, 0, 8]), Some(12));
        assert_eq!(
            super::frame_len(&[0xc0, 0, 0, 0]),
            Some(0),
            "neither STUN nor ChannelData"
        );
        assert_eq!(super::frame_len(&[0, 1]), None);
    }
}
