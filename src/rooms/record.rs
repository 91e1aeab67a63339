//! A room's record of a day: the work blocks that ended, everyone's goals and check-ins, the
//! day's tally ("6 blocks · 14 goals · 11 done") and, in a standing room, each person's
//! streak. Shared by the Today panel (REST), the transcript export and `flowsync rooms show
//! --today`. It is kept as long as the room's chat (see `db::lifecycle::purge_old_messages`).
//!
//! A day is a calendar date at a UTC offset: the browser asks for its own (the people in a
//! room see their own day), the CLI for UTC unless `--utc-offset` says otherwise.

use serde::Serialize;
use time::{Date, Month, UtcOffset};

use super::rituals::{Outcome, Tally, streaks};
use crate::db::models::RoomRow;
use crate::db::rituals::{BlockRow, GoalRow};
use crate::db::{self, Db};
use crate::errors::ApiError;
use crate::timefmt::rfc3339;

/// How far back a standing room's streaks look (a streak longer than this shows as this).
const STREAK_DAYS: i64 = 400;
const DAY_MS: i64 = 86_400_000;

/// One goal, as clients and exports see it.
#[derive(Debug, Clone, Serialize)]
pub struct GoalView {
    pub participant_id: String,
    pub display_name: String,
    pub block: u64,
    pub text: String,
    pub set_at: i64,
    /// The block has ended (the goal can no longer change; it can be checked in).
    pub ended: bool,
    pub outcome: Option<Outcome>,
    pub note: Option<String>,
}

impl From<&GoalRow> for GoalView {
    fn from(g: &GoalRow) -> Self {
        GoalView {
            participant_id: g.participant_id.clone(),
            display_name: g.display_name.clone(),
            block: g.block.max(0) as u64,
            text: g.body.clone(),
            set_at: g.set_at,
            ended: g.ended_at.is_some(),
            outcome: g.outcome.as_deref().and_then(Outcome::parse),
            note: g.note.clone(),
        }
    }
}

/// A work block that ended.
#[derive(Debug, Clone, Serialize)]
pub struct BlockView {
    pub block: u64,
    pub ended_at: String,
    /// Ran to its end (false: the host skipped it or started a break early).
    pub completed: bool,
    /// Who was in the room when it ended.
    pub people: Vec<String>,
}

impl From<&BlockRow> for BlockView {
    fn from(b: &BlockRow) -> Self {
        BlockView {
            block: b.block.max(0) as u64,
            ended_at: rfc3339(b.ended_at),
            completed: b.completed == 1,
            people: serde_json::from_str(&b.people).unwrap_or_default(),
        }
    }
}

/// A person's run of days with a completed block (standing rooms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Streak {
    pub name: String,
    pub days: u32,
}

/// A day: a calendar date at a UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    pub date: Date,
    pub offset: UtcOffset,
}

impl Day {
    /// The day `now_ms` falls on at `offset`.
    pub fn containing(now_ms: i64, offset: UtcOffset) -> Day {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .to_offset(offset);
        Day {
            date: t.date(),
            offset,
        }
    }

    /// `YYYY-MM-DD` (or today when absent) at `offset_minutes` east of UTC.
    pub fn parse(date: Option<&str>, offset_minutes: i32, now_ms: i64) -> Result<Day, ApiError> {
        if !(-18 * 60..=18 * 60).contains(&offset_minutes) {
            return Err(ApiError::validation(
                "the UTC offset must be between -1080 and 1080 minutes",
            ));
        }
        let offset = UtcOffset::from_whole_seconds(offset_minutes * 60)
            .map_err(|_| ApiError::validation("the UTC offset is out of range"))?;
        let Some(date) = date else {
            return Ok(Day::containing(now_ms, offset));
        };
        let parts: Vec<&str> = date.split('-').collect();
        let parsed = match parts.as_slice() {
            [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
                match (y.parse::<i32>(), m.parse::<u8>(), d.parse::<u8>()) {
                    (Ok(y), Ok(m), Ok(d)) => Month::try_from(m)
                        .ok()
                        .and_then(|m| Date::from_calendar_date(y, m, d).ok()),
                    _ => None,
                }
            }
            _ => None,
        };
        let date = parsed.ok_or_else(|| {
            ApiError::validation(format!("date must be YYYY-MM-DD (got {date:?})"))
        })?;
        Ok(Day { date, offset })
    }

    /// Its first millisecond, and the first of the next day (unix ms).
    pub fn bounds(&self) -> (i64, i64) {
        let start = self.date.midnight().assume_offset(self.offset);
        let from = (start.unix_timestamp_nanos() / 1_000_000) as i64;
        (from, from + DAY_MS)
    }

    /// A day number for streaks (consecutive days differ by one).
    fn number(&self) -> i64 {
        i64::from(self.date.to_julian_day())
    }

    /// The day number `ms` falls on at this day's offset.
    fn number_of(&self, ms: i64) -> i64 {
        Day::containing(ms, self.offset).number()
    }

    /// `YYYY-MM-DD`.
    pub fn date_text(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}",
            self.date.year(),
            u8::from(self.date.month()),
            self.date.day()
        )
    }

    /// `2026-12-07 (UTC+02:00)`.
    pub fn label(&self) -> String {
        let (h, m, _) = self.offset.as_hms();
        let date = self.date_text();
        if self.offset.is_utc() {
            format!("{date} (UTC)")
        } else {
            format!(
                "{date} (UTC{}{:02}:{:02})",
                if self.offset.is_negative() { '-' } else { '+' },
                h.abs(),
                m.abs()
            )
        }
    }
}

/// One day of a room's record.
#[derive(Debug, Clone, Serialize)]
pub struct DayRecord {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub utc_offset_minutes: i32,
    /// "6 blocks · 14 goals · 11 done".
    pub summary: String,
    pub tally: Tally,
    pub blocks: Vec<BlockView>,
    pub goals: Vec<GoalView>,
    /// Standing rooms only: each person's streak, longest first.
    pub streaks: Vec<Streak>,
}

/// The record of `room` on `day`.
pub async fn day_record(db: &Db, room: &RoomRow, day: Day) -> anyhow::Result<DayRecord> {
    let (from, to) = day.bounds();
    let since = if room.is_standing() {
        from - STREAK_DAYS * DAY_MS
    } else {
        from
    };
    let (blocks, goals) = db::rituals::record(db, &room.id, since, to).await?;
    Ok(build(day, room.is_standing(), &blocks, &goals))
}

/// Every day of `room`'s record that has a block or a goal, oldest first (for exports).
pub async fn all_days(
    db: &Db,
    room: &RoomRow,
    offset: UtcOffset,
) -> anyhow::Result<Vec<DayRecord>> {
    let (blocks, goals) = db::rituals::record(db, &room.id, 0, i64::MAX).await?;
    let mut days: Vec<Day> = blocks
        .iter()
        .map(|b| b.ended_at)
        .chain(goals.iter().map(|g| g.set_at))
        .map(|ms| Day::containing(ms, offset))
        .collect();
    days.sort_by_key(|d| d.date);
    days.dedup();
    Ok(days
        .into_iter()
        .map(|d| build(d, room.is_standing(), &blocks, &goals))
        .collect())
}

/// One day's record from rows that may span more days (earlier blocks count for streaks).
fn build(day: Day, standing: bool, blocks: &[BlockRow], goals: &[GoalRow]) -> DayRecord {
    let (from, to) = day.bounds();
    let today: Vec<&BlockRow> = blocks
        .iter()
        .filter(|b| (from..to).contains(&b.ended_at))
        .collect();
    let goals: Vec<&GoalRow> = goals
        .iter()
        .filter(|g| (from..to).contains(&g.set_at))
        .collect();
    let tally = Tally::of(
        today.iter().map(|b| b.completed == 1),
        goals.iter().map(|g| g.outcome.as_deref()),
    );
    let streaks_now = if standing {
        let present = blocks
            .iter()
            .filter(|b| b.completed == 1 && b.ended_at < to)
            .flat_map(|b| {
                let n = day.number_of(b.ended_at);
                BlockView::from(b)
                    .people
                    .into_iter()
                    .map(move |name| (n, name))
            });
        streaks(day.number(), present)
            .into_iter()
            .map(|(name, days)| Streak { name, days })
            .collect()
    } else {
        Vec::new()
    };
    DayRecord {
        date: day.date_text(),
        utc_offset_minutes: i32::from(day.offset.whole_minutes()),
        summary: tally.summary(),
        tally,
        blocks: today.into_iter().map(BlockView::from).collect(),
        goals: goals.into_iter().map(GoalView::from).collect(),
        streaks: streaks_now,
    }
}

/// A UTC offset in minutes east of UTC, from `+02:00`, `-05:30`, `+0200`, `Z` or `UTC`.
pub fn parse_offset(text: &str) -> Result<i32, ApiError> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return Ok(0);
    }
    let bad = || {
        ApiError::validation(format!(
            "a UTC offset looks like +02:00 or -05:30 (got {text:?})"
        ))
    };
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 5 {
        return Err(bad());
    }
    let (h, m): (i32, i32) = (
        digits[..2].parse().map_err(|_| bad())?,
        digits[2..].parse().map_err(|_| bad())?,
    );
    if h > 18 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 60 + m))
}

/// Text as Markdown shows it literally (people's goals and names are not markup).
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\`*_{}[]<>()#+-.!|~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn mark(outcome: Option<Outcome>) -> &'static str {
    outcome.map(Outcome::mark).unwrap_or("·")
}

fn streak_list(r: &DayRecord) -> String {
    r.streaks
        .iter()
        .map(|s| {
            format!(
                "{} {} {}",
                s.name,
                s.days,
                if s.days == 1 { "day" } else { "days" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One day of the record as Markdown, for the transcript export.
pub fn markdown(r: &DayRecord) -> String {
    let mut out = format!("### {}\n\n{}\n\n", r.date, r.summary);
    for g in &r.goals {
        out.push_str(&format!(
            "- {} {} {} (block {})",
            md(&g.display_name),
            mark(g.outcome),
            md(&g.text),
            g.block + 1
        ));
        if let Some(note) = &g.note {
            out.push_str(&format!(" — {}", md(note)));
        }
        out.push('\n');
    }
    if !r.streaks.is_empty() {
        out.push_str(&format!("\nStreaks: {}\n", md(&streak_list(r))));
    }
    out
}

/// One day of the record for a terminal (`flowsync rooms show CODE --today`).
pub fn table(room_name: &str, r: &DayRecord) -> String {
    let mut out = format!("{room_name}, {}: {}\n", r.date, r.summary);
    if !r.blocks.is_empty() {
        out.push_str(&format!(
            "\n{:<6} {:<22} {:<10} PEOPLE\n",
            "BLOCK", "ENDED", "HOW"
        ));
        for b in &r.blocks {
            out.push_str(&format!(
                "{:<6} {:<22} {:<10} {}\n",
                b.block + 1,
                b.ended_at,
                if b.completed {
                    "completed"
                } else {
                    "ended early"
                },
                b.people.join(", ")
            ));
        }
    }
    if !r.goals.is_empty() {
        out.push_str(&format!(
            "\n{:<6} {:<20} {:<8} GOAL\n",
            "BLOCK", "NAME", "CHECK-IN"
        ));
        for g in &r.goals {
            let how = match g.outcome {
                Some(o) => format!("{} {}", o.mark(), o.as_str()),
                None if g.ended => "-".into(),
                None => "open".into(),
            };
            let note = g
                .note
                .as_deref()
                .map(|n| format!(" — {n}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{:<6} {:<20} {:<8} {}{note}\n",
                g.block + 1,
                g.display_name,
                how,
                g.text
            ));
        }
    }
    if !r.streaks.is_empty() {
        out.push_str(&format!("\nstreaks   {}\n", streak_list(r)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_and_bound_at_their_offset() {
        let utc = Day::parse(Some("2026-12-07"), 0, 0).unwrap();
        assert_eq!(
            utc.bounds(),
            (1_796_601_600_000, 1_796_601_600_000 + DAY_MS)
        );
        assert_eq!(utc.label(), "2026-12-07 (UTC)");
        let east = Day::parse(Some("2026-12-07"), 120, 0).unwrap();
        assert_eq!(east.bounds().0, 1_796_601_600_000 - 2 * 3_600_000);
        assert_eq!(east.label(), "2026-12-07 (UTC+02:00)");
        let west = Day::parse(None, -300, 1_796_601_600_000 + 3_600_000).unwrap();
        assert_eq!(
            west.label(),
            "2026-12-06 (UTC-05:00)",
            "01:00 UTC is the evening before"
        );
        for bad in ["2026-13-01", "2026-02-30", "07.12.2026", "2026-1-07", ""] {
            assert!(Day::parse(Some(bad), 0, 0).is_err(), "{bad}");
        }
        assert!(Day::parse(None, 20 * 60, 0).is_err());
    }

    #[test]
    fn offsets_parse_in_the_usual_spellings() {
        assert_eq!(parse_offset("+02:00").unwrap(), 120);
        assert_eq!(parse_offset("-05:30").unwrap(), -330);
        assert_eq!(parse_offset("+0100").unwrap(), 60);
        assert_eq!(parse_offset("UTC").unwrap(), 0);
        for bad in ["2", "+2", "+25:00", "+02:60", "02:00", "+02:000"] {
            assert!(parse_offset(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn markdown_shows_what_people_typed_literally() {
        let r = DayRecord {
            date: "2026-12-07".into(),
            utc_offset_minutes: 0,
            summary: "1 block · 1 goal · 1 done".into(),
            tally: Tally::default(),
            blocks: Vec::new(),
            goals: vec![GoalView {
                participant_id: "p".into(),
                display_name: "Ana".into(),
                block: 0,
                text: "**fix** [link](x)".into(),
                set_at: 0,
                ended: true,
                outcome: Some(Outcome::Done),
                note: None,
            }],
            streaks: vec![Streak {
                name: "Ana".into(),
                days: 2,
            }],
        };
        let md = markdown(&r);
        assert!(
            md.contains(r"- Ana ✓ \*\*fix\*\* \[link\]\(x\) (block 1)"),
            "{md}"
        );
        assert!(md.contains("Streaks: Ana 2 days"), "{md}");
    }
}
