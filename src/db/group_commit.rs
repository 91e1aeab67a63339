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
    client_id: Option<String>,
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
            client_id: self.client_id.as_deref(),
        }
    }
}

impl MessageWriter {
    /// Starts the writer task on the current runtime; it ends when every clone is dropped.
    pub fn start(db: Db) -> MessageWriter {
        let (queue, jobs) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(db, jobs, MAX_BATCH));
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
            client_id: m.client_id.map(str::to_owned),
            touch,
            done,
        };
        let stopped = || anyhow::anyhow!("storing message: the message writer has stopped");
        self.queue.send(job).await.map_err(|_| stopped())?;
        row.await.map_err(|_| stopped())?
    }
}

/// A writer task: whatever queued while the previous batch was written, up to `max`, is the
/// next batch.
async fn run<J: Queued>(db: Db, mut jobs: mpsc::Receiver<J>, max: usize) {
    let mut batch = Vec::with_capacity(max);
    while jobs.recv_many(&mut batch, max).await > 0 {
        write_batch(&db, &mut batch).await;
    }
}

/// A queued write: how several are written together, how one is written alone, and where its
/// result goes.
trait Queued: Sized {
    type Row;
    async fn together(db: &Db, jobs: &[Self]) -> anyhow::Result<Vec<Self::Row>>;
    async fn alone(db: &Db, job: &Self) -> anyhow::Result<Self::Row>;
    fn answer(self, row: anyhow::Result<Self::Row>);
}

impl Queued for Job {
    type Row = MessageRow;

    async fn together(db: &Db, jobs: &[Job]) -> anyhow::Result<Vec<MessageRow>> {
        let lines: Vec<NewMessage<'_>> = jobs.iter().map(Job::message).collect();
        // One expiry update per room, the latest.
        let mut touches: Vec<(&str, i64)> = Vec::new();
        for job in jobs {
            if let Some(t) = job.touch {
                match touches.iter_mut().find(|(room, _)| *room == job.room_id) {
                    Some(found) => found.1 = found.1.max(t),
                    None => touches.push((&job.room_id, t)),
                }
            }
        }
        messages::insert_many(db, &lines, &touches).await
    }

    async fn alone(db: &Db, job: &Job) -> anyhow::Result<MessageRow> {
        messages::insert(db, &job.message(), job.touch).await
    }

    fn answer(self, row: anyhow::Result<MessageRow>) {
        let _ = self.done.send(row);
    }
}

/// Answers every job of `batch` (leaving it empty): several are written together; if that
/// fails, or there is only one, each is written alone, so one bad job (say, its room was
/// deleted meanwhile) fails alone.
async fn write_batch<J: Queued>(db: &Db, batch: &mut Vec<J>) {
    if batch.len() > 1
        && let Ok(rows) = J::together(db, batch).await
    {
        for (job, row) in batch.drain(..).zip(rows) {
            job.answer(Ok(row));
        }
        return;
    }
    for job in batch.drain(..) {
        let row = J::alone(db, &job).await;
        job.answer(row);
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
            tokio::spawn(run(db.clone(), jobs, MAX_JOIN_BATCH));
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
            let join = Join {
                room_id,
                participant: &participant,
                seat_cutoff_ms,
                new_expires_at,
                touch,
            };
            return rooms::join(&self.db, &join).await;
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

impl Queued for JoinJob {
    type Row = JoinOutcome;

    async fn together(db: &Db, jobs: &[JoinJob]) -> anyhow::Result<Vec<JoinOutcome>> {
        let joins: Vec<Join<'_>> = jobs.iter().map(JoinJob::join).collect();
        rooms::join_many(db, &joins).await
    }

    async fn alone(db: &Db, job: &JoinJob) -> anyhow::Result<JoinOutcome> {
        rooms::join(db, &job.join()).await
    }

    fn answer(self, outcome: anyhow::Result<JoinOutcome>) {
        let _ = self.done.send(outcome);
    }
}
