//! The co-working ritual's rules, as pure functions: what a goal and a check-in note may say,
//! the outcomes of a check-in, the chat line that announces one, and a day's tally.
//!
//! Decisions the issue left open:
//! - a goal and a note are one line (line breaks become spaces) of 1–120 visible characters;
//! - a goal can be changed or cleared until its block ends; a check-in is answered once (a
//!   second answer is refused, so the chat never shows two lines for one goal);
//! - everyone who set a goal is asked when the block ends, present or not: someone who
//!   reloads the page during the break is asked again by their own page, nobody else is told.

use serde::{Deserialize, Serialize};

use super::text::clean_name;
use crate::errors::ApiError;

/// The longest goal or check-in note, in characters.
pub const MAX_CHARS: usize = 120;

/// A goal as it will be stored: one line, 1..=120 visible characters.
pub fn goal_text(input: &str) -> Result<String, ApiError> {
    let text = clean_name(input);
    match text.chars().count() {
        0 => Err(ApiError::validation(
            "goal must not be empty (to remove it, send clear-goal)",
        )),
        n if n > MAX_CHARS => Err(ApiError::validation(format!(
            "goal is {n} characters; the limit is {MAX_CHARS}"
        ))),
        _ => Ok(text),
    }
}

/// A check-in note as it will be stored: none when blank, else one line of ≤ 120 characters.
pub fn note_text(input: Option<&str>) -> Result<Option<String>, ApiError> {
    let text = clean_name(input.unwrap_or_default());
    match text.chars().count() {
        0 => Ok(None),
        n if n > MAX_CHARS => Err(ApiError::validation(format!(
            "note is {n} characters; the limit is {MAX_CHARS}"
        ))),
        _ => Ok(Some(text)),
    }
}

/// How a work block went for one goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Done,
    Partly,
    NotDone,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Partly => "partly",
            Outcome::NotDone => "not_done",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "done" => Some(Outcome::Done),
            "partly" => Some(Outcome::Partly),
            "not_done" => Some(Outcome::NotDone),
            _ => None,
        }
    }

    /// The mark shown in chat lines and the record: ✓ done, ≈ partly, ✗ not done.
    pub fn mark(self) -> &'static str {
        match self {
            Outcome::Done => "✓",
            Outcome::Partly => "≈",
            Outcome::NotDone => "✗",
        }
    }
}

/// The system chat line of a check-in: "Ana ✓ Draft the intro", with " — note" when given.
pub fn check_in_line(name: &str, outcome: Outcome, goal: &str, note: Option<&str>) -> String {
    let mut line = format!("{name} {} {goal}", outcome.mark());
    if let Some(note) = note {
        line.push_str(" — ");
        line.push_str(note);
    }
    line
}

/// A day of a room in numbers: "6 blocks · 14 goals · 11 done".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Work blocks that ran to their end.
    pub blocks: u32,
    pub goals: u32,
    pub done: u32,
    pub partly: u32,
    pub not_done: u32,
}

impl Tally {
    /// From the day's blocks (`completed` flags) and its goals' outcomes.
    pub fn of<'a>(
        blocks_completed: impl IntoIterator<Item = bool>,
        outcomes: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Tally {
        let mut t = Tally {
            blocks: blocks_completed.into_iter().filter(|c| *c).count() as u32,
            ..Tally::default()
        };
        for o in outcomes {
            t.goals += 1;
            match o.and_then(Outcome::parse) {
                Some(Outcome::Done) => t.done += 1,
                Some(Outcome::Partly) => t.partly += 1,
                Some(Outcome::NotDone) => t.not_done += 1,
                None => {}
            }
        }
        t
    }

    /// The one-line summary the Today panel and `rooms show --today` print.
    pub fn summary(&self) -> String {
        let plural =
            |n: u32, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{} · {} · {} done",
            plural(self.blocks, "block", "blocks"),
            plural(self.goals, "goal", "goals"),
            self.done
        )
    }
}

/// Each person's streak: the run of consecutive days, ending on day `today`, on which they
/// finished at least one work block (`days`: a day number and a name present at a completed
/// block's end, in any order and with repeats). A streak is not broken until a whole day has
/// passed without a block, so someone whose last block was yesterday keeps theirs today. Names
/// are matched without regard to case; the longest streaks come first.
pub fn streaks(today: i64, days: impl IntoIterator<Item = (i64, String)>) -> Vec<(String, u32)> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut by_person: BTreeMap<String, (String, BTreeSet<i64>)> = BTreeMap::new();
    for (day, name) in days {
        if day > today {
            continue;
        }
        let entry = by_person
            .entry(name.to_lowercase())
            .or_insert_with(|| (name.clone(), BTreeSet::new()));
        entry.1.insert(day);
    }
    let mut out: Vec<(String, u32)> = by_person
        .into_values()
        .filter_map(|(name, set)| {
            let mut day = if set.contains(&today) {
                today
            } else {
                today - 1
            };
            let mut n = 0;
            while set.contains(&day) {
                n += 1;
                day -= 1;
            }
            (n > 0).then_some((name, n))
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_are_one_line_of_at_most_120_characters() {
        assert_eq!(
            goal_text("  Draft\nthe   intro ").unwrap(),
            "Draft the intro"
        );
        assert!(goal_text(" \u{200b} ").is_err(), "invisible only");
        assert_eq!(goal_text(&"é".repeat(120)).unwrap().chars().count(), 120);
        let long = goal_text(&"a".repeat(121)).unwrap_err().to_string();
        assert!(long.contains("121") && long.contains("120"), "{long}");
        assert_eq!(note_text(Some("  ")).unwrap(), None);
        assert_eq!(note_text(None).unwrap(), None);
        assert!(note_text(Some(&"n".repeat(121))).is_err());
    }

    #[test]
    fn check_in_lines_and_the_tally() {
        assert_eq!(
            check_in_line("Ana", Outcome::Done, "Draft the intro", None),
            "Ana ✓ Draft the intro"
        );
        assert_eq!(
            check_in_line("Bo", Outcome::Partly, "Tests", Some("half of them")),
            "Bo ≈ Tests — half of them"
        );
        assert_eq!(Outcome::parse("not_done"), Some(Outcome::NotDone));
        assert_eq!(Outcome::parse("maybe"), None);
        let t = Tally::of(
            [true, true, false],
            [Some("done"), Some("partly"), None, Some("done")],
        );
        assert_eq!(
            (t.blocks, t.goals, t.done, t.partly, t.not_done),
            (2, 4, 2, 1, 0)
        );
        assert_eq!(t.summary(), "2 blocks · 4 goals · 2 done");
        assert_eq!(
            Tally::of([true], []).summary(),
            "1 block · 0 goals · 0 done"
        );
    }

    #[test]
    fn streaks_count_consecutive_days_up_to_today_or_yesterday() {
        let days = [
            (10, "Ana".to_owned()),
            (9, "ana".to_owned()),
            (9, "Ana".to_owned()),
            (8, "Ana".to_owned()),
            (6, "Ana".to_owned()),
            (9, "Bo".to_owned()),
            (8, "Bo".to_owned()),
            (7, "Cy".to_owned()),
            (11, "Ana".to_owned()),
        ];
        assert_eq!(
            streaks(10, days),
            vec![("Ana".to_owned(), 3), ("Bo".to_owned(), 2)],
            "Cy's last block was three days ago; day 11 is after the day asked"
        );
        assert!(streaks(10, []).is_empty());
    }
}
