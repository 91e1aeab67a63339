//! Group commit for chat lines and, on SQLite, joins ([`JoinWriter`]). On SQLite every
//! statement is a hop to the one writer thread and back, and under load those hops, not the
//! writing, are the cost: `perf` of a server storing 1,500 lines a second while 15,000 clients
//! reconnected after a restart (`scripts/bench.sh restart`) had a third of its core in the
//! SQLite threads and in waking them. So lines posted at the same moment queue here and are
//! written together: whatever queued while the previous write ran goes into one multi-row
//! `INSERT` ([`super::messages::insert_many`]). An idle server writes each line at once, alone,
//! so nothing waits for a batch to fill.

use tokio::sync::{mpsc, oneshot};

use super::Db;
use super::messages::{self, NewMessage};
use super::models::{MessageRow, NewParticipant};
use super::rooms::{self, Join, JoinOutcome};

/// At most this many lines per statement (6 parameters each, far below SQLite's limit).
const MAX_BATCH: usize = 128;

/// The queue in front of [`messages::insert`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct MessageWriter {
    queue: mpsc::Sender<Job>,
}

/// A line waiting to be written, and where its row (or error) goes.
struct Job {
    room_id: String,
    participant_id: Option<String>,
    sender_name: String,
    kind: &'static str,
    body: String,
    /// The room's new expiry, when its activity is due to be recorded.
    touch: Option<i64>,
    done: oneshot::Sender<anyhow::Result<MessageRow>>,
}

impl Job {
    fn message(&self) -> NewMessage<'_> {
        NewMessage {
            room_id: &self.room_id,
            participant_id: self.participant_id.as_deref(),
            sender_name: &self.sender_name,
            kind: self.kind,
            body: &self.body,
        }
    }
}

impl MessageWriter {
    /// Starts the writer task on the current runtime; it ends when every clone is dropped.
    pub fn start(db: Db) -> MessageWriter {
        let (queue, jobs) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(db, jobs));
        MessageWriter { queue }
    }

    /// Stores a line (see [`messages::insert`]) and returns its row once it is committed.
    pub async fn insert(
        &self,
        m: &NewMessage<'_>,
        touch: Option<i64>,
    ) -> anyhow::Result<MessageRow> {
        let (done, row) = oneshot::channel();
        let job = Job {
            room_id: m.room_id.to_owned(),
            participant_id: m.participant_id.map(str::to_owned),
            sender_name: m.sender_name.to_owned(),
            kind: m.kind,
            body: m.body.to_owned(),
            touch,
            done,
        };
        let stopped = || anyhow::anyhow!("storing message: the message writer has stopped");
        self.queue.send(job).await.map_err(|_| stopped())?;
        row.await.map_err(|_| stopped())?
    }
}

async fn run(db: Db, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        write(&db, &mut batch).await;
    }
}

/// Writes one batch and answers every job in it (the batch is left empty).
async fn write(db: &Db, batch: &mut Vec<Job>) {
    if batch.len() > 1 {
        let lines: Vec<NewMessage<'_>> = batch.iter().map(Job::message).collect();
        // One expiry update per room, the latest.
        let mut touches: Vec<(&str, i64)> = Vec::new();
        for job in batch.iter() {
            if let Some(t) = job.touch {
                match touches.iter_mut().find(|(room, _)| *room == job.room_id) {
                    Some(found) => found.1 = found.1.max(t),
                    None => touches.push((&job.room_id, t)),
                }
            }
        }
        let stored = messages::insert_many(db, &lines, &touches).await;
        drop(lines);
        drop(touches);
        if let Ok(rows) = stored {
            for (job, row) in batch.drain(..).zip(rows) {
                let _ = job.done.send(Ok(row));
            }
            return;
        }
        // One bad line (say, its room was deleted meanwhile) must not fail the others.
    }
    for job in batch.drain(..) {
        let row = messages::insert(db, &job.message(), job.touch).await;
        let _ = job.done.send(row);
    }
}

/// At most this many joins per transaction.
const MAX_JOIN_BATCH: usize = 64;

/// The queue in front of [`rooms::join`] on SQLite. Every join there is a commit of its own,
/// and a commit writes about six WAL frames (the participants table and its indexes), each its
/// own `pwrite`: 11 % of a core at 4,800 joins/s in `perf`. Joins that arrive while the
/// previous ones are written go into one transaction ([`rooms::join_many`]), where each still
/// sees the seats the ones before it took. If the batch fails, its joins are retried one by
/// one, so a bad join fails alone. An idle server writes each join at once. On PostgreSQL
/// joins go straight to [`rooms::join`]: they are transactions side by side on a pool, with no
/// one writer to queue in front of.
#[derive(Clone, Debug)]
pub struct JoinWriter {
    db: Db,
    queue: Option<mpsc::Sender<JoinJob>>,
}

/// A join waiting to be written, and where its outcome goes.
struct JoinJob {
    room_id: String,
    participant: NewParticipant,
    seat_cutoff_ms: i64,
    new_expires_at: i64,
    touch: bool,
    done: oneshot::Sender<anyhow::Result<JoinOutcome>>,
}

impl JoinJob {
    fn join(&self) -> Join<'_> {
        Join {
            room_id: &self.room_id,
            participant: &self.participant,
            seat_cutoff_ms: self.seat_cutoff_ms,
            new_expires_at: self.new_expires_at,
            touch: self.touch,
        }
    }
}

impl JoinWriter {
    /// Starts the writer task (SQLite only) on the current runtime; it ends when every clone is
    /// dropped.
    pub fn start(db: Db) -> JoinWriter {
        let queue = matches!(db, Db::Sqlite { .. }).then(|| {
            let (queue, jobs) = mpsc::channel(4 * MAX_JOIN_BATCH);
            tokio::spawn(run_joins(db.clone(), jobs));
            queue
        });
        JoinWriter { db, queue }
    }

    /// Adds a participant if the room is active and has a free seat (see [`rooms::join`]).
    pub async fn join(
        &self,
        room_id: &str,
        participant: NewParticipant,
        seat_cutoff_ms: i64,
        new_expires_at: i64,
        touch: bool,
    ) -> anyhow::Result<JoinOutcome> {
        let Some(queue) = &self.queue else {
            return rooms::join(
                &self.db,
                room_id,
                &participant,
                seat_cutoff_ms,
                new_expires_at,
                touch,
            )
            .await;
        };
        let (done, outcome) = oneshot::channel();
        let job = JoinJob {
            room_id: room_id.to_owned(),
            participant,
            seat_cutoff_ms,
            new_expires_at,
            touch,
            done,
        };
        let stopped = || anyhow::anyhow!("joining room: the join writer has stopped");
        queue.send(job).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

async fn run_joins(db: Db, mut jobs: mpsc::Receiver<JoinJob>) {
    let mut batch = Vec::with_capacity(MAX_JOIN_BATCH);
    while jobs.recv_many(&mut batch, MAX_JOIN_BATCH).await > 0 {
        if batch.len() > 1 {
            let joins: Vec<Join<'_>> = batch.iter().map(JoinJob::join).collect();
            let written = rooms::join_many(&db, &joins).await;
            drop(joins);
            if let Ok(outcomes) = written {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = job.done.send(Ok(outcome));
                }
                continue;
            }
        }
        for job in batch.drain(..) {
            let j = job.join();
            let outcome = rooms::join(
                &db,
                j.room_id,
                j.participant,
                j.seat_cutoff_ms,
                j.new_expires_at,
                j.touch,
            )
            .await;
            let _ = job.done.send(outcome);
        }
    }
}
