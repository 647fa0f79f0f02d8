//! A small, hardened XML reader: bytes in, a bounded element tree out.
//!
//! What it refuses, before any CAP or PIDF-LO semantics are looked at:
//! - documents larger than [`XmlLimits::max_bytes`];
//! - any `<!DOCTYPE …>` (so no internal or external DTD, no entity
//!   declarations, no XXE, no "billion laughs"): nothing is ever fetched;
//! - entity references other than the five predefined ones (`&lt;` `&gt;`
//!   `&amp;` `&apos;` `&quot;`) and character references;
//! - encodings other than UTF-8, US-ASCII and ISO-8859-1 (declared in the XML
//!   declaration), and UTF-16 (detected by its byte-order mark);
//! - nesting deeper than [`XmlLimits::max_depth`], more than
//!   [`XmlLimits::max_elements`] elements, too many namespace bindings;
//! - anything that is not well-formed (unclosed or mismatched tags, several
//!   roots, text outside the root, unbound prefixes, bad attributes).
//!
//! Processing instructions (e.g. `xml-stylesheet`) and comments are skipped and
//! never acted on. Attribute values are checked for well-formedness only;
//! nothing here reads them.

use std::borrow::Cow;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Bounds applied while reading a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_elements: usize,
}

/// Why a byte string was not accepted as XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("document is {size} bytes, more than the {max} allowed")]
    TooLarge { size: usize, max: usize },
    #[error("document type declarations (DOCTYPE) are not allowed")]
    DoctypeNotAllowed,
    #[error("unknown entity reference &{name};")]
    UnknownEntity { name: String },
    #[error("invalid character reference &{reference};")]
    InvalidCharRef { reference: String },
    #[error("elements nested deeper than {max}")]
    TooDeep { max: usize },
    #[error("more than {max} elements")]
    TooManyElements { max: usize },
    #[error("unsupported character encoding {encoding:?}")]
    UnsupportedEncoding { encoding: String },
    #[error("document is not valid {encoding}")]
    InvalidEncoding { encoding: &'static str },
    #[error("not well-formed XML: {reason}")]
    Malformed { reason: String },
    #[error("the document has no root element")]
    NoRoot,
}

/// One element: namespace URI, local name, direct children and the
/// concatenation of its own character data (entity references resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ns: Option<String>,
    pub name: String,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.name == name
    }

    /// Depth-first search (pre-order) for the first element matching `pred`,
    /// including `self`.
    pub fn find(&self, pred: &dyn Fn(&Element) -> bool) -> Option<&Element> {
        if pred(self) {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(pred))
    }
}

pub(crate) const MAX_NAMESPACE_BINDINGS: usize = 256;
pub(crate) const MAX_ATTRIBUTES: usize = 64;
const MAX_REASON: usize = 160;

/// Parses `input` into an element tree, enforcing `limits`.
pub fn parse(input: &[u8], limits: XmlLimits) -> Result<Element, XmlError> {
    if input.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            size: input.len(),
            max: limits.max_bytes,
        });
    }
    let text = decode(input)?;
    parse_str(&text, limits)
}

pub(crate) fn malformed(reason: impl std::fmt::Display) -> XmlError {
    let mut reason = reason.to_string();
    crate::text::truncate_in_place(&mut reason, MAX_REASON);
    XmlError::Malformed { reason }
}

/// Turns the raw bytes into UTF-8 text according to the BOM / XML declaration.
pub(crate) fn decode(input: &[u8]) -> Result<Cow<'_, str>, XmlError> {
    if input.starts_with(&[0xFE, 0xFF])
        || input.starts_with(&[0xFF, 0xFE])
        || input.starts_with(&[0x00, b'<'])
        || input.starts_with(&[b'<', 0x00])
    {
        return Err(XmlError::UnsupportedEncoding {
            encoding: "UTF-16".into(),
        });
    }
    let input = input.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(input);
    let declared = declared_encoding(input);
    let normalized = declared.as_deref().map(str::to_ascii_uppercase);
    match normalized.as_deref() {
        None | Some("UTF-8" | "UTF8") => std::str::from_utf8(input)
            .map(Cow::Borrowed)
            .map_err(|_| XmlError::InvalidEncoding { encoding: "UTF-8" }),
        Some("US-ASCII" | "ASCII") => {
            if input.is_ascii() {
                // ASCII is valid UTF-8.
                std::str::from_utf8(input).map(Cow::Borrowed).map_err(|_| {
                    XmlError::InvalidEncoding {
                        encoding: "US-ASCII",
                    }
                })
            } else {
                Err(XmlError::InvalidEncoding {
                    encoding: "US-ASCII",
                })
            }
        }
        Some("ISO-8859-1" | "ISO8859-1" | "ISO_8859-1" | "LATIN1" | "LATIN-1" | "L1") => {
            // Every byte is the code point of the same value.
            Ok(Cow::Owned(input.iter().map(|&b| char::from(b)).collect()))
        }
        Some(_) => Err(XmlError::UnsupportedEncoding {
            encoding: crate::text::truncated(declared.as_deref().unwrap_or_default(), 40),
        }),
    }
}

/// The `encoding` pseudo-attribute of a leading `<?xml …?>` declaration.
fn declared_encoding(input: &[u8]) -> Option<String> {
    let rest = input.strip_prefix(b"<?xml")?;
    if !rest.first().is_some_and(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let end = rest.windows(2).take(512).position(|w| w == b"?>")?;
    let decl = &rest[..end];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let mut i = at + 8;
    let skip_ws = |i: &mut usize| {
        while decl.get(*i).is_some_and(|b| b.is_ascii_whitespace()) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if decl.get(i) != Some(&b'=') {
        return None;
    }
    i += 1;
    skip_ws(&mut i);
    let quote = *decl.get(i)?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let start = i + 1;
    let len = decl.get(start..)?.iter().position(|&b| b == quote)?;
    let value = &decl[start..start + len];
    value
        .is_ascii()
        .then(|| String::from_utf8_lossy(value).into_owned())
}

fn resolve_ns(ns: ResolveResult<'_>) -> Result<Option<String>, XmlError> {
    match ns {
        ResolveResult::Bound(ns) => Ok(Some(ns.0.to_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(prefix) => Err(malformed(format_args!(
            "unbound namespace prefix {prefix:?}"
        ))),
    }
}

pub(crate) fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn parse_str(text: &str, limits: XmlLimits) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_str(text);
    {
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.expand_empty_elements = false;
        config.allow_unmatched_ends = false;
        config.allow_dangling_amp = false;
    }
    reader
        .resolver_mut()
        .set_max_namespace_bindings(MAX_NAMESPACE_BINDINGS);

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;

    loop {
        let (ns, event) = reader.read_resolved_event().map_err(malformed)?;
        match event {
            Event::DocType(_) => return Err(XmlError::DoctypeNotAllowed),
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(malformed("more than one root element"));
            }
            ev @ (Event::Start(_) | Event::Empty(_)) => {
                let is_empty = matches!(ev, Event::Empty(_));
                let (Event::Start(start) | Event::Empty(start)) = ev else {
                    return Err(malformed("unexpected event"));
                };
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements {
                        max: limits.max_elements,
                    });
                }
                if stack.len() + 1 > limits.max_depth {
                    return Err(XmlError::TooDeep {
                        max: limits.max_depth,
                    });
                }
                // The duplicate check is quadratic in the attribute count:
                // bound it first.
                for (i, attr) in start.attributes().with_checks(true).enumerate() {
                    if i >= MAX_ATTRIBUTES {
                        return Err(malformed(format_args!(
                            "more than {MAX_ATTRIBUTES} attributes on one element"
                        )));
                    }
                    attr.map_err(malformed)?;
                }
                let name = start.local_name().into_inner().to_owned();
                let element = Element {
                    ns: resolve_ns(ns)?,
                    name,
                    children: Vec::new(),
                    text: String::new(),
                };
                if is_empty {
                    close(element, &mut stack, &mut root);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(|| malformed("unmatched end tag"))?;
                close(element, &mut stack, &mut root);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(e) => e.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(malformed("text outside the root element")),
                }
            }
            Event::CData(c) => match stack.last_mut() {
                Some(e) => e.text.push_str(&c.xml10_content()),
                None => return Err(malformed("CDATA outside the root element")),
            },
            Event::GeneralRef(r) => {
                let ch = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) if is_xml_char(c) => c,
                        _ => {
                            return Err(XmlError::InvalidCharRef {
                                reference: crate::text::truncated(&r.xml10_content(), 16),
                            });
                        }
                    }
                } else {
                    let name = r.xml10_content();
                    predefined_entity(&name).ok_or_else(|| XmlError::UnknownEntity {
                        name: crate::text::truncated(&name, 40),
                    })?
                };
                match stack.last_mut() {
                    Some(e) => e.text.push(ch),
                    None => return Err(malformed("reference outside the root element")),
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(malformed(format_args!(
            "element <{}> is not closed",
            open.name
        )));
    }
    root.ok_or(XmlError::NoRoot)
}

fn close(element: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: XmlLimits = XmlLimits {
        max_bytes: 4096,
        max_depth: 8,
        max_elements: 50,
    };

    #[test]
    fn reads_namespaces_text_and_references() {
        let e = parse(
            br#"<?xml version="1.0"?><a xmlns="urn:x" xmlns:p="urn:p"><p:b>1 &lt; 2 &#x41;<![CDATA[<c>]]></p:b></a>"#,
            LIMITS,
        )
        .unwrap();
        assert!(e.is("urn:x", "a"));
        assert!(e.children[0].is("urn:p", "b"));
        assert_eq!(e.children[0].text, "1 < 2 A<c>");
    }

    #[test]
    fn refuses_doctype_entities_and_limits() {
        let lol = b"<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"xx\">]><a>&x;</a>";
        assert_eq!(parse(lol, LIMITS), Err(XmlError::DoctypeNotAllowed));
        assert_eq!(
            parse(b"<a>&x;</a>", LIMITS),
            Err(XmlError::UnknownEntity { name: "x".into() })
        );
        assert!(matches!(
            parse(b"<a>&#0;</a>", LIMITS),
            Err(XmlError::InvalidCharRef { .. })
        ));
        let deep = "<a>".repeat(9) + &"</a>".repeat(9);
        assert_eq!(
            parse(deep.as_bytes(), LIMITS),
            Err(XmlError::TooDeep { max: 8 })
        );
        let many = format!("<a>{}</a>", "<b/>".repeat(60));
        assert_eq!(
            parse(many.as_bytes(), LIMITS),
            Err(XmlError::TooManyElements { max: 50 })
        );
        assert!(matches!(
            parse(&[b' '; 5000], LIMITS),
            Err(XmlError::TooLarge { .. })
        ));
    }

    #[test]
    fn many_attributes_are_refused_quickly() {
        let attrs: String = (0..40_000).map(|i| format!(" a{i}=''")).collect();
        let doc = format!("<a{attrs}/>");
        let limits = XmlLimits {
            max_bytes: 1 << 20,
            ..LIMITS
        };
        let t = std::time::Instant::now();
        assert!(matches!(
            parse(doc.as_bytes(), limits),
            Err(XmlError::Malformed { .. })
        ));
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn refuses_malformed() {
        for doc in [
            &b"<a><b></a>"[..],
            b"<a>",
            b"<a/><b/>",
            b"text",
            b"<a/>trailing",
            b"<p:a/>",
            b"<a x='1' x='2'/>",
        ] {
            assert!(
                matches!(parse(doc, LIMITS), Err(XmlError::Malformed { .. })),
                "{doc:?}"
            );
        }
        assert_eq!(parse(b"", LIMITS), Err(XmlError::NoRoot));
        assert_eq!(parse(b"<!-- only -->", LIMITS), Err(XmlError::NoRoot));
    }

    #[test]
    fn decodes_latin1_and_refuses_other_encodings() {
        let doc = b"<?xml version='1.0' encoding = 'ISO-8859-1'?><a>Usulut\xe1n</a>";
        assert_eq!(parse(doc, LIMITS).unwrap().text, "Usulut\u{e1}n");
        let doc = b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><a/>";
        assert!(matches!(
            parse(doc, LIMITS),
            Err(XmlError::UnsupportedEncoding { .. })
        ));
        assert!(matches!(
            parse(b"\xff\xfe<\0a\0/\0>\0", LIMITS),
            Err(XmlError::UnsupportedEncoding { .. })
        ));
        assert_eq!(
            parse(b"<a>\xff</a>", LIMITS),
            Err(XmlError::InvalidEncoding { encoding: "UTF-8" })
        );
    }
}
