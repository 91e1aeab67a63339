//! The TURN actor's relay sockets: binding one for an allocation within the quotas, ending
//! allocations, and the task that reads what peers send to a relayed address.

use super::*;

pub(super) struct RelaySocket {
    pub(super) sock: Arc<UdpSocket>,
    pub(super) via: Via,
    /// The client the allocation belongs to.
    pub(super) client: SocketAddr,
    pub(super) user: String,
    /// The room its participant is in (per-room quota), when checked.
    pub(super) room: Option<String>,
    pub(super) stop: CancellationToken,
}

impl Actor {
    /// Binds a relay socket for a client, within the quotas.
    pub(super) async fn allocate(
        &mut self,
        via: Via,
        client: SocketAddr,
        family: AddressFamily,
    ) -> Result<SocketAddr, SocketAllocateError> {
        if family != AddressFamily::IPV4 || !self.settings.advertise_ip.is_ipv4() {
            return Err(SocketAllocateError::AddressFamilyNotSupported);
        }
        let user = self
            .client_user
            .get(&(via, client))
            .cloned()
            .unwrap_or_default();
        let used = self.per_user.get(&user).copied().unwrap_or(0);
        let room = self.live.get(&user).and_then(|(r, _)| r.clone());
        let room_used = room
            .as_ref()
            .and_then(|r| self.per_room.get(r))
            .copied()
            .unwrap_or(0);
        if self.relays.len() as u32 >= self.settings.max_allocations
            || used >= self.settings.user_quota
            || room_used >= self.settings.room_quota
        {
            self.stats.refused_quota.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%client, user = %user, "turn: allocation quota reached");
            return Err(SocketAllocateError::InsufficientCapacity);
        }
        let (lo, hi) = self.settings.relay_ports;
        let span = u32::from(hi - lo) + 1;
        for _ in 0..span.min(4096) {
            let port = self.next_port;
            self.next_port = if port >= hi { lo } else { port + 1 };
            let public = SocketAddr::new(self.settings.advertise_ip, port);
            if self.relays.contains_key(&public) || self.lingering.contains(&public) {
                continue;
            }
            let Ok(sock) = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))).await
            else {
                continue;
            };
            let sock = Arc::new(sock);
            let stop = CancellationToken::new();
            spawn_relay_reader(sock.clone(), public, self.tx.clone(), stop.clone());
            self.relays.insert(
                public,
                RelaySocket {
                    sock,
                    via,
                    client,
                    user: user.clone(),
                    room: room.clone(),
                    stop,
                },
            );
            *self.per_user.entry(user).or_insert(0) += 1;
            if let Some(room) = room {
                *self.per_room.entry(room).or_insert(0) += 1;
            }
            self.stats.allocations.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%client, relayed = %public, "turn: allocation");
            return Ok(public);
        }
        tracing::warn!("turn: no free port in turn.relay_ports");
        Err(SocketAllocateError::InsufficientCapacity)
    }

    /// Ends every allocation of a participant who is no longer in a live room.
    pub(super) fn release_participant(&mut self, participant: &str) {
        let gone: Vec<SocketAddr> = self
            .relays
            .iter()
            .filter(|(_, r)| r.user == participant)
            .map(|(a, _)| *a)
            .collect();
        if !gone.is_empty() {
            tracing::info!(
                allocations = gone.len(),
                "turn: ending the allocations of a participant no longer in a live room"
            );
        }
        for relayed in gone {
            self.release(relayed);
            self.lingering.insert(relayed);
        }
    }

    pub(super) fn release(&mut self, relayed: SocketAddr) {
        if let Some(r) = self.relays.remove(&relayed) {
            r.stop.cancel();
            if let Some(n) = self.per_user.get_mut(&r.user) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_user.remove(&r.user);
                }
            }
            if let Some(room) = &r.room
                && let Some(n) = self.per_room.get_mut(room)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_room.remove(room);
                }
            }
            self.stats.allocations.fetch_sub(1, Ordering::Relaxed);
            tracing::debug!(relayed = %relayed, "turn: allocation ended");
        }
    }
}

fn spawn_relay_reader(
    sock: Arc<UdpSocket>,
    public: SocketAddr,
    tx: mpsc::Sender<Event>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            let r = tokio::select! {
                _ = stop.cancelled() => break,
                r = sock.recv_from(&mut buf) => r,
            };
            if let Ok((n, from)) = r {
                let ev = Event::Relay {
                    relay: public,
                    from: canonical(from),
                    data: buf[..n].to_vec(),
                };
                if tx.send(ev).await.is_err() {
                    break;
                }
            }
        }
    });
}
