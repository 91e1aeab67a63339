//! The pomodoro timer as a pure state machine. The server owns it: it computes `ends_at`,
//! advances phases itself (work → short break → … → long break after every Nth completed work
//! phase) and clients only render `ends_at` corrected by their clock offset.
//!
//! Decisions the spec leaves open:
//! - `skip` moves to the next phase without counting the skipped work phase as completed;
//! - `reset` returns to an idle work phase and clears the completed-pomodoro count;
//! - with `auto_start`, the next phase starts at the previous `ends_at` (not when the server
//!   noticed), so late processing never stretches a session.
//!
//! Work blocks are numbered (`block`) for the goals and check-ins people attach to them. The
//! number names the current work block, or during a break the next one; it grows by one when a
//! work phase that ran is left (completed, skipped, or a break started over it) and never goes
//! back, so a reset keeps the block and its goals. A work phase that never ran (skipped while
//! idle) does not end its block: its goals wait for the next work phase.

use serde::{Deserialize, Serialize};

use super::TimerSettings;
use crate::errors::ApiError;

/// A timer from its stored columns (JSON state and settings); with no state saved yet, a fresh
/// timer with the room's settings.
pub fn stored(
    state: Option<&str>,
    settings: &str,
) -> Result<(TimerState, TimerSettings), ApiError> {
    let settings: TimerSettings = serde_json::from_str(settings).map_err(ApiError::internal)?;
    let state = match state {
        Some(s) => serde_json::from_str(s).map_err(ApiError::internal)?,
        None => TimerState::new(&settings),
    };
    Ok((state, settings))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Idle,
    Running,
    Paused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Work,
    ShortBreak,
    LongBreak,
}

/// Why the timer last changed, sent with every `timer-update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Initial,
    Started,
    Paused,
    Resumed,
    Reset,
    Skipped,
    Completed,
}

/// What the database stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerState {
    pub status: Status,
    pub phase: Phase,
    pub duration_ms: i64,
    /// Time left when idle or paused (while running it is derived from `ends_at`).
    pub remaining_ms: i64,
    /// Server epoch milliseconds at which the running phase ends.
    pub ends_at: Option<i64>,
    pub completed_pomodoros: u32,
    pub reason: Reason,
    /// The current (or, during a break, next) work block's number.
    #[serde(default)]
    pub block: u64,
    /// Whether the current work block has run (been started) since it began.
    #[serde(default)]
    pub block_ran: bool,
    /// Blocks that ended in the changes made since this state was loaded (not stored): the
    /// timer service records them and asks their goals' owners to check in.
    #[serde(skip)]
    pub ended: Vec<BlockEnd>,
}

/// A work block that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockEnd {
    pub block: u64,
    /// Server ms: the phase's `ends_at` when it ran out, or when the host moved on.
    pub ended_at: i64,
    /// Ran to its end (false: skipped, or a break was started over it).
    pub completed: bool,
}

/// What clients receive (`timer-update`, the `timer` of `room-joined`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimerView {
    pub status: Status,
    pub phase: Phase,
    pub duration_ms: i64,
    pub remaining_ms: i64,
    pub ends_at: Option<i64>,
    pub completed_pomodoros: u32,
    pub reason: Reason,
    /// The work block goals are set for now: the current one, or during a break the next.
    pub block: u64,
    pub server_time: i64,
}

/// A command a host may give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Start(Option<Phase>),
    Pause,
    Resume,
    Reset,
    Skip,
}

/// A command that does not apply in the current state (e.g. pause while idle).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotApplicable(pub &'static str);

fn duration_of(phase: Phase, s: &TimerSettings) -> i64 {
    1000 * i64::from(match phase {
        Phase::Work => s.work_seconds,
        Phase::ShortBreak => s.short_break_seconds,
        Phase::LongBreak => s.long_break_seconds,
    })
}

impl TimerState {
    pub fn new(s: &TimerSettings) -> Self {
        let d = duration_of(Phase::Work, s);
        TimerState {
            status: Status::Idle,
            phase: Phase::Work,
            duration_ms: d,
            remaining_ms: d,
            ends_at: None,
            completed_pomodoros: 0,
            reason: Reason::Initial,
            block: 0,
            block_ran: false,
            ended: Vec::new(),
        }
    }

    pub fn view(&self, now: i64) -> TimerView {
        let remaining_ms = match (self.status, self.ends_at) {
            (Status::Running, Some(end)) => (end - now).max(0),
            _ => self.remaining_ms,
        };
        TimerView {
            status: self.status,
            phase: self.phase,
            duration_ms: self.duration_ms,
            remaining_ms,
            ends_at: if self.status == Status::Running {
                self.ends_at
            } else {
                None
            },
            completed_pomodoros: self.completed_pomodoros,
            reason: self.reason,
            block: self.block,
            server_time: now,
        }
    }

    /// Applies a host command at `now`.
    pub fn apply(
        &mut self,
        cmd: Command,
        now: i64,
        s: &TimerSettings,
    ) -> Result<(), NotApplicable> {
        match cmd {
            Command::Start(phase) => {
                if let Some(p) = phase.filter(|p| *p != self.phase) {
                    if self.phase == Phase::Work {
                        self.leave_work(now, false);
                    }
                    self.phase = p;
                    self.duration_ms = duration_of(p, s);
                    self.remaining_ms = self.duration_ms;
                } else if self.status == Status::Running {
                    return Err(NotApplicable("the timer is already running"));
                }
                if self.status == Status::Idle || phase.is_some() {
                    self.remaining_ms = self.remaining_ms.min(self.duration_ms).max(1);
                }
                self.status = Status::Running;
                self.ends_at = Some(now + self.remaining_ms);
                self.reason = Reason::Started;
                self.block_ran |= self.phase == Phase::Work;
            }
            Command::Pause => {
                let (Status::Running, Some(end)) = (self.status, self.ends_at) else {
                    return Err(NotApplicable("the timer is not running"));
                };
                self.remaining_ms = (end - now).max(0);
                self.status = Status::Paused;
                self.ends_at = None;
                self.reason = Reason::Paused;
            }
            Command::Resume => {
                if self.status != Status::Paused {
                    return Err(NotApplicable("the timer is not paused"));
                }
                self.status = Status::Running;
                self.ends_at = Some(now + self.remaining_ms);
                self.reason = Reason::Resumed;
            }
            Command::Reset => {
                let ran = self.block_ran && self.phase == Phase::Work;
                let (block, ended) = (self.block, std::mem::take(&mut self.ended));
                *self = TimerState::new(s);
                self.reason = Reason::Reset;
                (self.block, self.block_ran, self.ended) = (block, ran, ended);
            }
            Command::Skip => {
                let next = self.next_phase(false, s);
                self.enter(next, s, None, Reason::Skipped, now);
            }
        }
        Ok(())
    }

    /// The phase after the current one; `completed` counts a finished work phase.
    fn next_phase(&mut self, completed: bool, s: &TimerSettings) -> Phase {
        match self.phase {
            Phase::Work => {
                if completed {
                    self.completed_pomodoros += 1;
                    if self
                        .completed_pomodoros
                        .is_multiple_of(s.long_break_every.max(1))
                    {
                        return Phase::LongBreak;
                    }
                }
                Phase::ShortBreak
            }
            Phase::ShortBreak | Phase::LongBreak => Phase::Work,
        }
    }

    /// Leaves the current work phase at `at`: a block that ran ends and the next one begins.
    fn leave_work(&mut self, at: i64, completed: bool) {
        if self.block_ran {
            self.ended.push(BlockEnd {
                block: self.block,
                ended_at: at,
                completed,
            });
            self.block += 1;
            self.block_ran = false;
        }
    }

    fn enter(
        &mut self,
        phase: Phase,
        s: &TimerSettings,
        start_at: Option<i64>,
        reason: Reason,
        now: i64,
    ) {
        let was_running = self.status == Status::Running;
        if self.phase == Phase::Work && phase != Phase::Work {
            self.leave_work(start_at.unwrap_or(now), reason == Reason::Completed);
        }
        self.phase = phase;
        self.duration_ms = duration_of(phase, s);
        self.remaining_ms = self.duration_ms;
        self.reason = reason;
        let keep_running = match reason {
            Reason::Completed => s.auto_start,
            _ => was_running,
        };
        if keep_running {
            self.status = Status::Running;
            self.ends_at = Some(start_at.unwrap_or(now) + self.duration_ms);
            self.block_ran |= phase == Phase::Work;
        } else {
            self.status = Status::Idle;
            self.ends_at = None;
        }
    }

    /// When the running phase has ended by `now`, advances to the next phase (starting it when
    /// `auto_start`) and returns true. Several missed phases (a long outage) are caught up, so
    /// the state is what it would have been had the server never stopped.
    pub fn complete_due(&mut self, now: i64, s: &TimerSettings) -> bool {
        let mut advanced = false;
        while let (Status::Running, Some(end)) = (self.status, self.ends_at) {
            if end > now {
                break;
            }
            let next = self.next_phase(true, s);
            self.enter(next, s, Some(end), Reason::Completed, now);
            advanced = true;
        }
        advanced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(auto_start: bool) -> TimerSettings {
        TimerSettings {
            work_seconds: 10,
            short_break_seconds: 2,
            long_break_seconds: 5,
            long_break_every: 2,
            auto_start,
            focus: Default::default(),
        }
    }

    #[test]
    fn starts_pauses_resumes() {
        let s = settings(true);
        let mut t = TimerState::new(&s);
        assert_eq!(t.view(0).remaining_ms, 10_000);
        assert!(t.apply(Command::Pause, 0, &s).is_err());
        t.apply(Command::Start(None), 1_000, &s).unwrap();
        assert_eq!(t.ends_at, Some(11_000));
        assert_eq!(t.view(4_000).remaining_ms, 7_000);
        t.apply(Command::Pause, 4_000, &s).unwrap();
        assert_eq!(
            t.view(9_000).remaining_ms,
            7_000,
            "paused time does not run"
        );
        assert_eq!(t.view(9_000).ends_at, None);
        t.apply(Command::Resume, 9_000, &s).unwrap();
        assert_eq!(t.ends_at, Some(16_000));
        assert!(t.apply(Command::Start(None), 9_500, &s).is_err());
    }

    #[test]
    fn phases_advance_with_long_breaks_and_count_pomodoros() {
        let s = settings(true);
        let mut t = TimerState::new(&s);
        t.apply(Command::Start(None), 0, &s).unwrap();
        assert!(!t.complete_due(9_999, &s));
        assert!(t.complete_due(10_000, &s));
        assert_eq!(
            (t.phase, t.completed_pomodoros, t.reason),
            (Phase::ShortBreak, 1, Reason::Completed)
        );
        assert_eq!(
            t.ends_at,
            Some(12_000),
            "the break starts when the work phase ended"
        );
        assert!(t.complete_due(12_050, &s));
        assert_eq!(t.phase, Phase::Work);
        assert_eq!(t.ends_at, Some(22_000));
        assert!(t.complete_due(22_000, &s));
        assert_eq!(
            (t.phase, t.completed_pomodoros),
            (Phase::LongBreak, 2),
            "every 2nd is long"
        );
        assert_eq!(t.duration_ms, 5_000);
    }

    #[test]
    fn catches_up_after_an_outage() {
        let s = settings(true);
        let mut t = TimerState::new(&s);
        t.apply(Command::Start(None), 0, &s).unwrap();
        // work 0–10 s, short 10–12, work 12–22, long 22–27, work 27–37
        assert!(t.complete_due(30_000, &s));
        assert_eq!(
            (t.phase, t.completed_pomodoros, t.ends_at),
            (Phase::Work, 2, Some(37_000))
        );
    }

    #[test]
    fn without_auto_start_the_next_phase_waits() {
        let s = settings(false);
        let mut t = TimerState::new(&s);
        t.apply(Command::Start(None), 0, &s).unwrap();
        assert!(t.complete_due(10_000, &s));
        assert_eq!(
            (t.status, t.phase, t.view(50_000).remaining_ms),
            (Status::Idle, Phase::ShortBreak, 2_000)
        );
        assert!(!t.complete_due(60_000, &s));
    }

    #[test]
    fn skip_and_reset() {
        let s = settings(true);
        let mut t = TimerState::new(&s);
        t.apply(Command::Start(None), 0, &s).unwrap();
        t.apply(Command::Skip, 3_000, &s).unwrap();
        assert_eq!(
            (t.phase, t.completed_pomodoros, t.status),
            (Phase::ShortBreak, 0, Status::Running)
        );
        assert_eq!(t.ends_at, Some(5_000));
        t.apply(Command::Start(Some(Phase::LongBreak)), 4_000, &s)
            .unwrap();
        assert_eq!((t.phase, t.ends_at), (Phase::LongBreak, Some(9_000)));
        t.apply(Command::Reset, 5_000, &s).unwrap();
        assert_eq!(t.status, Status::Idle);
        assert_eq!(
            (t.phase, t.remaining_ms, t.completed_pomodoros, t.reason),
            (Phase::Work, 10_000, 0, Reason::Reset)
        );
    }

    #[test]
    fn blocks_are_numbered_by_work_phases_that_ran() {
        let s = settings(true);
        let mut t = TimerState::new(&s);
        // Skipping an idle work phase ends no block: its goals wait for the next work phase.
        t.apply(Command::Skip, 0, &s).unwrap();
        assert_eq!((t.phase, t.block), (Phase::ShortBreak, 0));
        assert!(t.ended.is_empty());
        t.apply(Command::Start(Some(Phase::Work)), 1_000, &s)
            .unwrap();
        assert_eq!((t.block, t.block_ran), (0, true));
        // Completion, catching up, with auto-start: block 0 ends at 11 s, block 1 runs 13–23 s.
        assert!(t.complete_due(24_000, &s));
        assert_eq!((t.phase, t.block), (Phase::LongBreak, 2));
        assert_eq!(
            t.ended,
            vec![
                BlockEnd {
                    block: 0,
                    ended_at: 11_000,
                    completed: true
                },
                BlockEnd {
                    block: 1,
                    ended_at: 23_000,
                    completed: true
                }
            ]
        );
        assert_eq!(t.view(24_000).block, 2, "a break names the next block");
        t.ended.clear();
        // A reset keeps the block; skipping a running work phase ends it, not completed.
        t.apply(Command::Reset, 25_000, &s).unwrap();
        assert_eq!(
            (t.phase, t.block, t.completed_pomodoros),
            (Phase::Work, 2, 0)
        );
        t.apply(Command::Start(None), 26_000, &s).unwrap();
        t.apply(Command::Reset, 27_000, &s).unwrap();
        assert_eq!((t.block, t.block_ran), (2, true), "reset mid-block");
        t.apply(Command::Start(Some(Phase::ShortBreak)), 28_000, &s)
            .unwrap();
        assert_eq!(
            (t.block, t.ended.clone()),
            (
                3,
                vec![BlockEnd {
                    block: 2,
                    ended_at: 28_000,
                    completed: false
                }]
            )
        );
    }

    #[test]
    fn a_state_stored_before_blocks_existed_reads_as_block_zero() {
        let old = r#"{"status":"idle","phase":"work","duration_ms":10000,"remaining_ms":10000,
            "ends_at":null,"completed_pomodoros":3,"reason":"reset"}"#;
        let t: TimerState = serde_json::from_str(old).expect("parses");
        assert_eq!((t.block, t.block_ran, t.completed_pomodoros), (0, false, 3));
        let json = serde_json::to_string(&t).expect("serialises");
        assert!(!json.contains("ended"), "{json}");
    }
}
