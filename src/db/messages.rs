//! Chat history: append (with room activity), newest-first pages by cursor, full export.

use anyhow::Context;

use super::models::MessageRow;
use super::{Db, now_ms, with_pool};

/// A message about to be stored.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub room_id: &'a str,
    pub participant_id: Option<&'a str>,
    pub sender_name: &'a str,
    pub kind: &'static str,
    pub body: &'a str,
    /// The id the sender's client chose, unique per participant (see [`by_client_id`]).
    pub client_id: Option<&'a str>,
}

/// Stores a message; returns the stored row. With `new_expires_at` (activity is due to be
/// recorded, see `App::activity_due`) the room's activity and expiry are updated in the same
/// transaction; without, the insert is one statement (most messages of a busy room).
pub async fn insert(
    db: &Db,
    m: &NewMessage<'_>,
    new_expires_at: Option<i64>,
) -> anyhow::Result<MessageRow> {
    let touch = new_expires_at.map(|t| (m.room_id, t));
    let mut rows = insert_many(db, std::slice::from_ref(m), touch.as_slice()).await?;
    rows.pop().context("storing message: no row returned")
}

/// Stores several messages in one statement (and, when some rooms' activity is due, one
/// transaction with their updates); returns the rows in the order given. All or nothing:
/// on an error the caller retries them one by one ([`insert`]) so a bad line fails alone.
pub async fn insert_many(
    db: &Db,
    messages: &[NewMessage<'_>],
    touches: &[(&str, i64)],
) -> anyhow::Result<Vec<MessageRow>> {
    let now = now_ms();
    let mut rows = with_pool!(db.write(), |pool| {
        // A transaction only when rooms are updated too; the INSERT alone is atomic.
        let mut tx = match touches.is_empty() {
            true => None,
            false => Some(pool.begin().await?),
        };
        if let Some(tx) = tx.as_mut() {
            for (room_id, expires_at) in touches {
                sqlx::query(
                    "UPDATE rooms SET last_activity_at = $2, expires_at = CASE WHEN standing = 1 THEN expires_at ELSE $3 END WHERE id = $1 AND status = 'active'",
                )
                .bind(*room_id)
                .bind(now)
                .bind(*expires_at)
                .execute(&mut **tx)
                .await?;
            }
        }
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO room_messages (room_id, participant_id, sender_name, type, body, created_at, client_id) ",
        );
        q.push_values(messages, |mut row, m| {
            row.push_bind(m.room_id)
                .push_bind(m.participant_id)
                .push_bind(m.sender_name)
                .push_bind(m.kind)
                .push_bind(m.body)
                .push_bind(now)
                .push_bind(m.client_id);
        });
        q.push(" RETURNING id, room_id, participant_id, sender_name, type, body, created_at");
        let rows: Vec<MessageRow> = match tx.as_mut() {
            Some(tx) => q.build_query_as().fetch_all(&mut **tx).await?,
            None => q.build_query_as().fetch_all(pool).await?,
        };
        if let Some(tx) = tx {
            tx.commit().await?;
        }
        Ok::<_, sqlx::Error>(rows)
    })
    .context("storing messages")?;
    // Ids are handed out in the order of the VALUES list; RETURNING's order is not promised.
    rows.sort_by_key(|r| r.id);
    anyhow::ensure!(
        rows.len() == messages.len(),
        "stored {} of {} messages",
        rows.len(),
        messages.len()
    );
    Ok(rows)
}

/// The line a participant stored earlier under `client_id`, if any: a resend of it is
/// acknowledged with this row instead of being stored again.
pub async fn by_client_id(
    db: &Db,
    participant_id: &str,
    client_id: &str,
) -> anyhow::Result<Option<MessageRow>> {
    with_pool!(db.write(), |pool| {
        sqlx::query_as::<_, MessageRow>(
            "SELECT id, room_id, participant_id, sender_name, type, body, created_at FROM room_messages \
             WHERE participant_id = $1 AND client_id = $2",
        )
        .bind(participant_id)
        .bind(client_id)
        .fetch_optional(pool)
        .await
    })
    .context("reading a message by its client id")
}

/// One page of history: the newest `limit` messages with `id < before` (or the newest overall),
/// returned oldest → newest, plus the cursor for the next older page when there is one.
pub async fn page(
    db: &Db,
    room_id: &str,
    before: Option<i64>,
    limit: i64,
) -> anyhow::Result<(Vec<MessageRow>, Option<i64>)> {
    let before = before.unwrap_or(i64::MAX);
    let mut rows: Vec<MessageRow> = with_pool!(db.read(), |pool| {
        sqlx::query_as::<_, MessageRow>(
            "SELECT id, room_id, participant_id, sender_name, type, body, created_at FROM room_messages \
             WHERE room_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(room_id)
        .bind(before)
        .bind(limit + 1)
        .fetch_all(pool)
        .await
    })
    .context("reading messages")?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    rows.reverse();
    let next = if more {
        rows.first().map(|m| m.id)
    } else {
        None
    };
    Ok((rows, next))
}

/// Every message of a room, oldest first, read in pages so a long history is not one query.
pub async fn all(db: &Db, room_id: &str) -> anyhow::Result<Vec<MessageRow>> {
    let mut out = Vec::new();
    let mut after = 0i64;
    loop {
        let rows: Vec<MessageRow> = with_pool!(db.read(), |pool| {
            sqlx::query_as::<_, MessageRow>(
                "SELECT id, room_id, participant_id, sender_name, type, body, created_at FROM room_messages \
                 WHERE room_id = $1 AND id > $2 ORDER BY id LIMIT 1000",
            )
            .bind(room_id)
            .bind(after)
            .fetch_all(pool)
            .await
        })
        .context("exporting messages")?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        let done = rows.len() < 1000;
        out.extend(rows);
        if done {
            break;
        }
    }
    Ok(out)
}
