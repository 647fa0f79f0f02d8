//! The feed parser: a small streaming reader on quick-xml (see the module
//! documentation of [`crate::feeds`] for what it refuses).

use chrono::{DateTime, Utc};
use quick_xml::events::Event;
use reqwest::Url;

use super::{
    FeedError, FeedItem, MAX_DEPTH, MAX_ELEMENTS, MAX_FEED_BYTES, MAX_ITEMS_PER_FEED, MAX_SUMMARY,
    MAX_TEXT, MAX_TITLE, ParsedFeed,
};

fn malformed(e: impl std::fmt::Display) -> FeedError {
    let mut s = e.to_string();
    truncate(&mut s, 160);
    FeedError::Malformed(s)
}

fn truncate(s: &mut String, max_chars: usize) -> bool {
    if let Some((i, _)) = s.char_indices().nth(max_chars) {
        s.truncate(i);
        return true;
    }
    false
}

/// UTF-8 (with or without a byte-order mark) or US-ASCII only.
fn decode(input: &[u8]) -> Result<&str, FeedError> {
    if input.starts_with(&[0xFE, 0xFF])
        || input.starts_with(&[0xFF, 0xFE])
        || input.starts_with(&[0x00, b'<'])
        || input.starts_with(&[b'<', 0x00])
    {
        return Err(FeedError::Encoding);
    }
    let input = input.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|_| FeedError::Encoding)?;
    if let Some(decl) = text.trim_start().strip_prefix("<?xml")
        && let Some(end) = decl.find("?>")
    {
        let decl = &decl[..end];
        if let Some(p) = decl.find("encoding") {
            let rest = decl[p + "encoding".len()..]
                .trim_start()
                .trim_start_matches('=')
                .trim_start();
            let enc: String = rest
                .trim_start_matches(['"', '\''])
                .chars()
                .take_while(|c| *c != '"' && *c != '\'')
                .collect();
            if !matches!(
                enc.to_ascii_uppercase().as_str(),
                "UTF-8" | "UTF8" | "US-ASCII" | "ASCII"
            ) {
                return Err(FeedError::Encoding);
            }
        }
    }
    Ok(text)
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Rss,
    Atom,
}

#[derive(Default)]
struct Draft {
    title: String,
    link: Option<String>,
    alt_link: Option<String>,
    summary: String,
    content: String,
    published: Option<DateTime<Utc>>,
    updated: Option<DateTime<Utc>>,
}

fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc2822(s)
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// An absolute http(s) URL, resolved against the feed's own URL.
fn safe_link(s: &str, base: Option<&Url>) -> Option<String> {
    let s = s.trim();
    if s.is_empty() || s.len() > 2_048 {
        return None;
    }
    let u = match base {
        Some(b) => b.join(s).ok()?,
        None => Url::parse(s).ok()?,
    };
    matches!(u.scheme(), "http" | "https").then(|| u.to_string())
}

/// Parses an RSS 2.0 or Atom 1.0 document. `base` resolves relative links.
pub fn parse_feed(input: &[u8], base: Option<&Url>) -> Result<ParsedFeed, FeedError> {
    if input.len() > MAX_FEED_BYTES {
        return Err(FeedError::TooLarge);
    }
    let text = decode(input)?;
    let mut reader = quick_xml::Reader::from_str(text);
    {
        let c = reader.config_mut();
        c.check_end_names = true;
        c.check_comments = true;
        c.expand_empty_elements = false;
        c.allow_unmatched_ends = false;
        c.allow_dangling_amp = false;
    }
    let mut format: Option<Format> = None;
    let mut stack: Vec<String> = Vec::new();
    let mut elements = 0usize;
    let mut title: Option<String> = None;
    let mut items: Vec<FeedItem> = Vec::new();
    let mut draft: Option<Draft> = None;
    // The depth of the open item/entry element, and the text of the field being read.
    let mut item_depth = 0usize;
    let mut buf = String::new();
    let mut seen_root = false;
    loop {
        let ev = reader.read_event().map_err(malformed)?;
        match ev {
            Event::DocType(_) => return Err(FeedError::Doctype),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(FeedError::TooManyElements);
                }
                if stack.len() + 1 > MAX_DEPTH {
                    return Err(FeedError::TooDeep);
                }
                let name = e.local_name().into_inner().to_owned();
                if stack.is_empty() {
                    if seen_root {
                        return Err(malformed("more than one root element"));
                    }
                    seen_root = true;
                    format = Some(match name.as_str() {
                        "rss" => Format::Rss,
                        "feed" => Format::Atom,
                        _ => return Err(FeedError::NotAFeed),
                    });
                }
                let mut attrs: Vec<(String, String)> = Vec::new();
                for (i, a) in e.attributes().with_checks(true).enumerate() {
                    if i >= 64 {
                        return Err(malformed("more than 64 attributes on one element"));
                    }
                    let a = a.map_err(malformed)?;
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|_| FeedError::UnknownEntity)?;
                    attrs.push((a.key.local_name().into_inner().to_owned(), v.into_owned()));
                }
                let depth = stack.len(); // of this element
                let is_item = match format {
                    Some(Format::Rss) => {
                        name == "item" && depth == 2 && stack.get(1).is_some_and(|p| p == "channel")
                    }
                    Some(Format::Atom) => name == "entry" && depth == 1,
                    None => false,
                };
                if is_item && draft.is_none() {
                    draft = Some(Draft::default());
                    item_depth = depth;
                }
                if draft.is_some() && depth == item_depth + 1 {
                    buf.clear();
                    if format == Some(Format::Atom) && name == "link" {
                        let get =
                            |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
                        if let (Some(href), Some(d)) = (get("href"), draft.as_mut()) {
                            match get("rel").unwrap_or("alternate") {
                                "alternate" => {
                                    d.link = d.link.take().or_else(|| Some(href.to_string()))
                                }
                                _ => {
                                    d.alt_link =
                                        d.alt_link.take().or_else(|| Some(href.to_string()))
                                }
                            }
                        }
                    }
                }
                if draft.is_none() && title.is_none() {
                    buf.clear();
                }
                if empty {
                    if is_item && draft.is_some() && depth == item_depth {
                        finish(&mut draft, &mut items, base);
                    }
                } else {
                    stack.push(name);
                }
            }
            Event::End(_) => {
                let name = stack.pop().ok_or_else(|| malformed("unmatched end tag"))?;
                let depth = stack.len();
                match draft.as_mut() {
                    Some(d) if depth == item_depth + 1 => {
                        let text = std::mem::take(&mut buf);
                        match (format, name.as_str()) {
                            (_, "title") => d.title = text,
                            (Some(Format::Rss), "link") => d.link = Some(text),
                            (Some(Format::Rss), "description")
                            | (Some(Format::Atom), "summary") => d.summary = text,
                            (Some(Format::Rss), "encoded") | (Some(Format::Atom), "content") => {
                                d.content = text
                            }
                            (Some(Format::Rss), "pubDate") | (Some(Format::Atom), "published") => {
                                d.published = parse_date(&text)
                            }
                            (Some(Format::Atom), "updated") | (Some(Format::Rss), "date") => {
                                d.updated = parse_date(&text)
                            }
                            (Some(Format::Rss), "guid") if d.alt_link.is_none() => {
                                d.alt_link = Some(text)
                            }
                            _ => {}
                        }
                    }
                    Some(_) if depth == item_depth => {
                        if items.len() < MAX_ITEMS_PER_FEED {
                            finish(&mut draft, &mut items, base);
                        } else {
                            draft = None;
                        }
                    }
                    Some(_) => {}
                    None => {
                        let feed_title = match format {
                            Some(Format::Rss) => {
                                depth == 2 && stack.get(1).is_some_and(|p| p == "channel")
                            }
                            Some(Format::Atom) => depth == 1,
                            None => false,
                        };
                        if name == "title" && feed_title && title.is_none() {
                            title = Some(std::mem::take(&mut buf));
                        }
                        buf.clear();
                    }
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                if stack.is_empty() {
                    if !content.trim().is_empty() {
                        return Err(malformed("text outside the root element"));
                    }
                } else {
                    push_text(&mut buf, &content);
                }
            }
            Event::CData(c) => {
                if stack.is_empty() {
                    return Err(malformed("CDATA outside the root element"));
                }
                push_text(&mut buf, &c.xml10_content());
            }
            Event::GeneralRef(r) => {
                let ch = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) if !c.is_control() || matches!(c, '\t' | '\n' | '\r') => c,
                        _ => return Err(FeedError::UnknownEntity),
                    }
                } else {
                    predefined(&r.xml10_content()).ok_or(FeedError::UnknownEntity)?
                };
                if stack.is_empty() {
                    return Err(malformed("reference outside the root element"));
                }
                let mut b = [0u8; 4];
                push_text(&mut buf, ch.encode_utf8(&mut b));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(malformed(format_args!("element <{open}> is not closed")));
    }
    if !seen_root {
        return Err(FeedError::NotAFeed);
    }
    Ok(ParsedFeed {
        title: title
            .map(|t| plain_text(&t, MAX_TITLE))
            .filter(|t| !t.is_empty()),
        items,
    })
}

fn push_text(buf: &mut String, s: &str) {
    if buf.len() < MAX_TEXT {
        buf.push_str(s);
        if buf.len() > MAX_TEXT {
            truncate(buf, MAX_TEXT / 4);
        }
    }
}

fn finish(draft: &mut Option<Draft>, items: &mut Vec<FeedItem>, base: Option<&Url>) {
    let Some(d) = draft.take() else { return };
    let summary_src = if d.summary.trim().is_empty() {
        &d.content
    } else {
        &d.summary
    };
    let title = plain_text(&d.title, MAX_TITLE);
    let summary = Some(plain_text(summary_src, MAX_SUMMARY)).filter(|s| !s.is_empty());
    let link = d
        .link
        .as_deref()
        .and_then(|l| safe_link(l, base))
        .or_else(|| d.alt_link.as_deref().and_then(|l| safe_link(l, base)));
    if title.is_empty() && summary.is_none() {
        return;
    }
    let title = if title.is_empty() {
        summary
            .as_deref()
            .map(|s| s.chars().take(80).collect())
            .unwrap_or_default()
    } else {
        title
    };
    items.push(FeedItem {
        title,
        link,
        summary,
        published: d.published.or(d.updated),
    });
}

const INLINE_TAGS: [&str; 16] = [
    "a", "abbr", "b", "bdi", "cite", "code", "em", "i", "mark", "q", "s", "small", "span",
    "strong", "sub", "sup",
];

/// HTML (as feeds put it in descriptions) to plain text: tags and comments
/// removed (with the content of `script` and `style`), common entities
/// decoded, white space collapsed, shortened to `max` characters.
pub fn plain_text(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let lower: String = after
            .chars()
            .take(9)
            .collect::<String>()
            .to_ascii_lowercase();
        let skip_to = if after.starts_with("<!--") {
            after.find("-->").map(|j| j + 3)
        } else if lower.starts_with("<script") || lower.starts_with("<style") {
            let close = if lower.starts_with("<script") {
                "</script"
            } else {
                "</style"
            };
            let low_all = after.to_ascii_lowercase();
            low_all
                .find(close)
                .and_then(|j| after[j..].find('>').map(|k| j + k + 1))
        } else {
            after.find('>').map(|j| j + 1)
        };
        match skip_to {
            Some(j) => {
                // Block-level tags separate words; inline ones do not.
                let name: String = after[1..]
                    .trim_start_matches('/')
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect::<String>()
                    .to_ascii_lowercase();
                if !INLINE_TAGS.contains(&name.as_str()) {
                    out.push(' ');
                }
                rest = &after[j..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    let decoded = html_entities(&out);
    let mut text = String::with_capacity(decoded.len());
    for w in decoded.split_whitespace() {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(w);
    }
    text.retain(|c| !c.is_control());
    if truncate(&mut text, max.saturating_sub(1)) {
        text = text.trim_end().to_string();
        text.push('…');
    }
    text
}

fn html_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let name = &after[..e];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                "ndash" => '–',
                "mdash" => '—',
                "hellip" => '…',
                "rsquo" => '’',
                "lsquo" => '‘',
                "rdquo" => '”',
                "ldquo" => '“',
                _ => {
                    let n = name.strip_prefix('#')?;
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Hjerteløber nyt</title><link>https://example.org/</link>
<item><title>New &amp; better AEDs</title><link>https://example.org/a</link>
<description><![CDATA[<p>Ten <b>new</b> AEDs<script>alert(1)</script> in town&nbsp;&amp; more.</p>]]></description>
<pubDate>Tue, 03 Nov 2026 10:00:00 +0100</pubDate></item>
<item><title>Bad link</title><link>javascript:alert(1)</link><description>x &lt;img src=x onerror=alert(1)&gt; y</description></item>
</channel></rss>"#;

    const ATOM: &str = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">Training</title>
<entry><title>CPR refresher course</title><link rel="alternate" href="/courses/1"/><updated>2026-11-01T09:00:00Z</updated>
<summary type="html">&lt;b&gt;Book&lt;/b&gt; now</summary></entry></feed>"#;

    #[test]
    fn reads_rss_and_atom_as_text() {
        let f = parse_feed(RSS.as_bytes(), None).unwrap();
        assert_eq!(f.title.as_deref(), Some("Hjerteløber nyt"));
        assert_eq!(f.items.len(), 2);
        assert_eq!(f.items[0].title, "New & better AEDs");
        assert_eq!(
            f.items[0].summary.as_deref(),
            Some("Ten new AEDs in town & more.")
        );
        assert_eq!(f.items[0].link.as_deref(), Some("https://example.org/a"));
        assert_eq!(
            f.items[0].published.unwrap().to_rfc3339(),
            "2026-11-03T09:00:00+00:00"
        );
        assert_eq!(f.items[1].link, None, "javascript: links are dropped");
        assert_eq!(f.items[1].summary.as_deref(), Some("x y"));
        let base = Url::parse("https://training.example/feed.xml").unwrap();
        let a = parse_feed(ATOM.as_bytes(), Some(&base)).unwrap();
        assert_eq!(a.title.as_deref(), Some("Training"));
        assert_eq!(
            a.items[0].link.as_deref(),
            Some("https://training.example/courses/1")
        );
        assert_eq!(a.items[0].summary.as_deref(), Some("Book now"));
    }

    #[test]
    fn refuses_dtds_entities_and_junk() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><rss><channel><title>&lol2;</title></channel></rss>"#;
        assert_eq!(parse_feed(bomb.as_bytes(), None), Err(FeedError::Doctype));
        let xxe = r#"<rss><channel><title>&xxe;</title></channel></rss>"#;
        assert_eq!(
            parse_feed(xxe.as_bytes(), None),
            Err(FeedError::UnknownEntity)
        );
        assert_eq!(
            parse_feed(b"<html><body>hi</body></html>", None),
            Err(FeedError::NotAFeed)
        );
        assert!(matches!(
            parse_feed(b"<rss><channel><item><title>x</channel></rss>", None),
            Err(FeedError::Malformed(_))
        ));
        assert!(matches!(
            parse_feed(b"not xml at all", None),
            Err(FeedError::NotAFeed | FeedError::Malformed(_))
        ));
        assert_eq!(parse_feed(b"", None), Err(FeedError::NotAFeed));
        let deep = format!("<rss>{}{}</rss>", "<a>".repeat(40), "</a>".repeat(40));
        assert_eq!(parse_feed(deep.as_bytes(), None), Err(FeedError::TooDeep));
        let latin = r#"<?xml version="1.0" encoding="ISO-8859-1"?><rss/>"#;
        assert_eq!(parse_feed(latin.as_bytes(), None), Err(FeedError::Encoding));
        let many = format!(
            "<rss><channel>{}</channel></rss>",
            "<x/>".repeat(MAX_ELEMENTS + 1)
        );
        assert_eq!(
            parse_feed(many.as_bytes(), None),
            Err(FeedError::TooManyElements)
        );
    }

    #[test]
    fn keeps_at_most_the_first_items_and_short_text() {
        let items: String = (0..50)
            .map(|i| {
                format!(
                    "<item><title>n{i}</title><description>{}</description></item>",
                    "word ".repeat(500)
                )
            })
            .collect();
        let f = parse_feed(
            format!("<rss><channel>{items}</channel></rss>").as_bytes(),
            None,
        )
        .unwrap();
        assert_eq!(f.items.len(), MAX_ITEMS_PER_FEED);
        assert_eq!(f.items[0].title, "n0");
        assert!(f.items[0].summary.as_ref().unwrap().chars().count() <= MAX_SUMMARY);
        assert!(f.items[0].summary.as_ref().unwrap().ends_with('…'));
    }
}
