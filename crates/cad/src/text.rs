//! Bounded strings.

/// Cuts `s` to at most `max` bytes on a character boundary.
pub(crate) fn truncate_in_place(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// A copy of `s` of at most `max` bytes (for echoing input in errors).
pub(crate) fn truncated(s: &str, max: usize) -> String {
    let mut s = s.to_owned();
    truncate_in_place(&mut s, max);
    s
}

/// Collapses runs of whitespace to one space and trims.
pub(crate) fn squash_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Joins the non-empty parts with a blank line, bounded to `max` bytes.
pub(crate) fn join_bounded<'a>(
    parts: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Option<String> {
    let mut out = String::new();
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(part);
        if out.len() >= max {
            break;
        }
    }
    truncate_in_place(&mut out, max);
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncated("aé", 2), "a");
        assert_eq!(truncated("abc", 5), "abc");
        assert_eq!(
            join_bounded(["a ", "", " b"], 100).as_deref(),
            Some("a\n\nb")
        );
        assert_eq!(join_bounded(["", " "], 100), None);
        assert_eq!(join_bounded(["abcdef", "x"], 4).as_deref(), Some("abcd"));
        assert_eq!(squash_ws(" a \n b "), "a b");
    }
}
