//! What people type, made safe to show: invisible and control characters out of names (so
//! `Host\u{200D}` cannot pass for `Host`, and a name cannot be blank on screen), and out of
//! chat except the line breaks a message may have (so a message cannot forge transcript lines,
//! carry terminal escape sequences, or make PostgreSQL refuse a NUL).
//!
//! "Invisible" is Unicode's general categories Cc (controls), Cf (format: bidi overrides,
//! zero-width space and joiners, tags), Zl/Zp (line and paragraph separators) and every
//! Default_Ignorable_Code_Point (Hangul fillers, variation selectors, …). Emoji need some of
//! those: a zero-width joiner between two emoji (👩‍💻), a variation selector after a
//! non-ASCII character (❤️) and tag characters after a black flag (🏴󠁧󠁢󠁳󠁣󠁴󠁿) are kept in chat; in names
//! only variation selectors after a non-ASCII character are kept.

use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory, GeneralCategoryGroup};
use icu_properties::{CodePointMapData, CodePointSetData};

const ZWJ: char = '\u{200D}';
const BLACK_FLAG: char = '\u{1F3F4}';

/// Consecutive line breaks kept in a chat message (one blank line).
const MAX_LINE_BREAKS: usize = 2;

fn invisible(c: char) -> bool {
    const GROUP: GeneralCategoryGroup = GeneralCategoryGroup::Control
        .union(GeneralCategoryGroup::Format)
        .union(GeneralCategoryGroup::LineSeparator)
        .union(GeneralCategoryGroup::ParagraphSeparator);
    GROUP.contains(CodePointMapData::<GeneralCategory>::new().get(c))
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

fn variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

fn tag(c: char) -> bool {
    matches!(c, '\u{E0020}'..='\u{E007F}')
}

/// A character that can sit on either side of an emoji joiner: visible, not ASCII, not a
/// letter or digit (`Host\u{200D}` and `a\u{200D}b` lose theirs).
fn pictographic(c: Option<char>) -> bool {
    c.is_some_and(|c| !c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace() && !invisible(c))
}

/// Whether an invisible character at `i` is part of an emoji sequence worth keeping.
fn keeps(chars: &[char], i: usize, out_last: Option<char>, in_chat: bool) -> bool {
    let c = chars[i];
    if variation_selector(c) {
        return out_last.is_some_and(|p| !p.is_ascii() && !p.is_whitespace());
    }
    if !in_chat {
        return false;
    }
    if c == ZWJ {
        return pictographic(out_last) && pictographic(chars.get(i + 1).copied());
    }
    if tag(c) {
        return out_last.is_some_and(|p| p == BLACK_FLAG || tag(p));
    }
    false
}

/// A display or room name as it will be shown: invisible characters removed, any run of
/// whitespace (line breaks and tabs included) one space, trimmed. Empty when nothing visible
/// was given (the caller refuses it).
pub fn clean_name(input: &str) -> String {
    let chars: Vec<char> = input.chars().collect();
    let mut out = String::with_capacity(input.len());
    for (i, &c) in chars.iter().enumerate() {
        if c.is_whitespace() {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
        } else if !invisible(c) || keeps(&chars, i, out.chars().last(), false) {
            out.push(c);
        }
    }
    out.trim_end().to_owned()
}

/// A chat message as it will be stored: line breaks normalised to `\n` (at most one blank line
/// in a row), tabs as spaces, other invisible characters removed except inside emoji,
/// trimmed. Empty when nothing visible was given.
pub fn clean_chat(input: &str) -> String {
    let chars: Vec<char> = input.replace("\r\n", "\n").chars().collect();
    let mut out = String::with_capacity(input.len());
    let mut breaks = 0;
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => {
                breaks += 1;
                // A line's trailing spaces go with it.
                while out.ends_with(' ') {
                    out.pop();
                }
                if breaks <= MAX_LINE_BREAKS {
                    out.push('\n');
                }
                continue;
            }
            // Spaces between line breaks do not end a run of blank lines.
            '\t' | ' ' => {
                out.push(' ');
                continue;
            }
            c if invisible(c) && !keeps(&chars, i, out.chars().last(), true) => continue,
            c => out.push(c),
        }
        breaks = 0;
    }
    out.trim().to_owned()
}

/// A stored message body for the plain-text transcript: every line after the first indented
/// (so no message can start a line that looks like a transcript entry), and any control
/// character left by an older version shown as U+FFFD.
pub fn transcript_body(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '\n' => out.push_str("\n    "),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_stay_collapsed_when_spaces_or_invisibles_sit_between_breaks() {
        // Found by tests/it/fuzz.rs: a tab between breaks let a third line break through, so
        // cleaning twice gave a different message.
        let once = clean_chat("👩\n\u{2066}\n\t\na");
        assert_eq!(once, "👩\n\na");
        assert_eq!(clean_chat(&once), once);
        assert_eq!(clean_chat("a\n \n \n \nb"), "a\n\nb");
    }

    #[test]
    fn names_lose_invisible_characters() {
        assert_eq!(clean_name("Host\u{200D}"), "Host");
        assert_eq!(clean_name("\u{202E}tsoH"), "tsoH");
        assert_eq!(clean_name("Ho\u{200B}st"), "Host");
        assert_eq!(clean_name("\u{200B}\u{200D}\u{3164}"), "");
        assert_eq!(clean_name("  Ana \n\t Lee  "), "Ana Lee");
        assert_eq!(clean_name("Bob\u{0}\u{1B}[31m"), "Bob[31m");
        assert_eq!(clean_name("Host\u{FE0F}"), "Host");
        assert_eq!(clean_name("Ana ❤\u{FE0F}"), "Ana ❤\u{FE0F}");
        assert_eq!(clean_name("Zoë 李"), "Zoë 李");
    }

    #[test]
    fn chat_keeps_line_breaks_and_emoji() {
        assert_eq!(clean_chat("a\r\nb"), "a\nb");
        assert_eq!(clean_chat("a  \n\n\n\n\nb"), "a\n\nb");
        assert_eq!(clean_chat("\u{1B}[2Jhi\u{0}"), "[2Jhi");
        assert_eq!(clean_chat("x\u{202E}y\u{2066}"), "xy");
        assert_eq!(clean_chat("a\tb"), "a b");
        // 👩‍💻 (woman, ZWJ, laptop) keeps its joiner; a joiner between letters goes.
        assert_eq!(clean_chat("👩\u{200D}💻"), "👩\u{200D}💻");
        assert_eq!(clean_chat("a\u{200D}b"), "ab");
        assert_eq!(clean_chat("❤\u{FE0F}"), "❤\u{FE0F}");
        let scotland = "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}";
        assert_eq!(clean_chat(scotland), scotland);
        assert_eq!(clean_chat("a\u{E0067}"), "a");
        assert_eq!(clean_chat(" \u{200B} \n "), "");
    }

    #[test]
    fn transcript_lines_cannot_be_forged() {
        assert_eq!(
            transcript_body("hi\n[12:00] * Mallory was made host"),
            "hi\n    [12:00] * Mallory was made host"
        );
        assert_eq!(transcript_body("a\u{1B}b"), "a\u{FFFD}b");
    }
}
