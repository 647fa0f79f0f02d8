//! A full-fidelity XML tree for canonicalization: unlike [`crate::xml`], it
//! keeps attributes, namespace declarations, comments, processing
//! instructions and the order of text and child elements.
//!
//! The hardening is the same as [`crate::xml`]'s (size, encoding, no DOCTYPE,
//! only the five predefined entities, depth, element count, attribute count,
//! namespace bindings), and it is stricter in places where a canonical form
//! would otherwise be ambiguous: undeclaring a prefix (`xmlns:p=""`, XML 1.1
//! only), relative namespace URIs (C14N 1.0 does not define them), misuse of
//! the `xml` / `xmlns` prefixes, `<` in attribute values, two attributes with
//! the same expanded name, and characters that are not XML characters.
//!
//! Line ends are normalized (`\r\n` and `\r` → `\n`) on the whole document
//! before parsing, as XML 1.0 §2.11 requires; attribute values are normalized
//! as CDATA attributes (§3.3.3: literal tab, newline → space; character
//! references are kept as they are).

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use crate::xml::{
    MAX_ATTRIBUTES, MAX_NAMESPACE_BINDINGS, XmlError, XmlLimits, decode, is_xml_char, malformed,
    predefined_entity,
};

pub(crate) const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// A parsed document: elements live in an arena, `root` is the document
/// element; `prolog` / `epilog` hold the comments and processing
/// instructions before and after it.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub elems: Vec<Elem>,
    pub root: usize,
    pub prolog: Vec<Node>,
    pub epilog: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Elem(usize),
    /// Character data (text, CDATA sections and references, merged).
    Text(String),
    Comment(String),
    Pi {
        target: String,
        data: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Elem {
    pub parent: Option<usize>,
    pub prefix: Option<String>,
    pub local: String,
    pub ns: Option<String>,
    /// Namespace declarations on this element in document order:
    /// `(prefix, uri)`, prefix `""` for the default namespace, uri `""` for
    /// `xmlns=""`.
    pub decls: Vec<(String, String)>,
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
}

#[derive(Debug, Clone)]
pub(crate) struct Attr {
    pub prefix: Option<String>,
    pub local: String,
    pub ns: Option<String>,
    pub value: String,
}

impl Elem {
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.local == local
    }

    /// The value of the attribute `local` without a namespace.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.local == local)
            .map(|a| a.value.as_str())
    }

    pub fn child_elems(&self) -> impl Iterator<Item = usize> + '_ {
        self.children.iter().filter_map(|n| match n {
            Node::Elem(id) => Some(*id),
            _ => None,
        })
    }
}

impl Doc {
    /// Every element, in document order (pre-order), with the root first.
    pub fn descendants(&self, from: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![from];
        while let Some(id) = stack.pop() {
            out.push(id);
            let kids: Vec<usize> = self.elems[id].child_elems().collect();
            stack.extend(kids.into_iter().rev());
        }
        out
    }
}

/// Parses `input` into a [`Doc`], enforcing `limits`.
pub(crate) fn parse(input: &[u8], limits: XmlLimits) -> Result<Doc, XmlError> {
    if input.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            size: input.len(),
            max: limits.max_bytes,
        });
    }
    let text = decode(input)?;
    let text = normalize_line_ends(&text);
    Parser::new(limits).run(&text)
}

/// XML 1.0 §2.11: `\r\n` and a lone `\r` become `\n`.
fn normalize_line_ends(s: &str) -> Cow<'_, str> {
    if !s.contains('\r') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

struct Parser {
    limits: XmlLimits,
    elems: Vec<Elem>,
    /// Open elements, innermost last.
    open: Vec<usize>,
    /// Namespace bindings in scope, innermost last, and how many each open
    /// element added.
    scope: Vec<(String, String)>,
    scope_marks: Vec<usize>,
    root: Option<usize>,
    prolog: Vec<Node>,
    epilog: Vec<Node>,
    seen_event: bool,
}

impl Parser {
    fn new(limits: XmlLimits) -> Self {
        Self {
            limits,
            elems: Vec::new(),
            open: Vec::new(),
            scope: Vec::new(),
            scope_marks: Vec::new(),
            root: None,
            prolog: Vec::new(),
            epilog: Vec::new(),
            seen_event: false,
        }
    }

    fn run(mut self, text: &str) -> Result<Doc, XmlError> {
        let mut reader = Reader::from_str(text);
        {
            let config = reader.config_mut();
            config.check_end_names = true;
            config.check_comments = true;
            config.expand_empty_elements = false;
            config.allow_unmatched_ends = false;
            config.allow_dangling_amp = false;
        }
        loop {
            let event = reader.read_event().map_err(malformed)?;
            let first = !self.seen_event;
            self.seen_event = true;
            match event {
                Event::Decl(_) if first => {}
                Event::Decl(_) => return Err(malformed("XML declaration not at the start")),
                Event::DocType(_) => return Err(XmlError::DoctypeNotAllowed),
                Event::Start(start) => self.start(&start, false)?,
                Event::Empty(start) => self.start(&start, true)?,
                Event::End(_) => {
                    self.open
                        .pop()
                        .ok_or_else(|| malformed("unmatched end tag"))?;
                    self.pop_scope();
                }
                Event::Text(t) => self.text(&t)?,
                Event::CData(c) => {
                    if self.open.is_empty() {
                        return Err(malformed("CDATA outside the root element"));
                    }
                    self.text(&c)?;
                }
                Event::GeneralRef(r) => {
                    let ch = if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) if is_xml_char(c) => c,
                            _ => {
                                return Err(XmlError::InvalidCharRef {
                                    reference: crate::text::truncated(&r, 16),
                                });
                            }
                        }
                    } else {
                        predefined_entity(&r).ok_or_else(|| XmlError::UnknownEntity {
                            name: crate::text::truncated(&r, 40),
                        })?
                    };
                    if self.open.is_empty() {
                        return Err(malformed("reference outside the root element"));
                    }
                    let mut buf = [0u8; 4];
                    self.push_text(ch.encode_utf8(&mut buf));
                }
                Event::Comment(c) => {
                    check_chars(&c)?;
                    self.misc(Node::Comment(c.to_string()));
                }
                Event::PI(pi) => {
                    let target = pi.target();
                    if target.is_empty() || target.eq_ignore_ascii_case("xml") {
                        return Err(malformed("invalid processing instruction target"));
                    }
                    let data = pi
                        .content()
                        .trim_start_matches([' ', '\t', '\n', '\r'])
                        .to_owned();
                    check_chars(target)?;
                    check_chars(&data)?;
                    self.misc(Node::Pi {
                        target: target.to_owned(),
                        data,
                    });
                }
                Event::Eof => break,
            }
        }
        if let Some(&open) = self.open.last() {
            return Err(malformed(format_args!(
                "element <{}> is not closed",
                crate::text::truncated(&self.elems[open].local, 40)
            )));
        }
        let root = self.root.ok_or(XmlError::NoRoot)?;
        Ok(Doc {
            elems: self.elems,
            root,
            prolog: self.prolog,
            epilog: self.epilog,
        })
    }

    fn misc(&mut self, node: Node) {
        match (self.open.last(), self.root) {
            (Some(&id), _) => self.elems[id].children.push(node),
            (None, None) => self.prolog.push(node),
            (None, Some(_)) => self.epilog.push(node),
        }
    }

    fn text(&mut self, raw: &str) -> Result<(), XmlError> {
        if self.open.is_empty() {
            if raw.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
                return Ok(());
            }
            return Err(malformed("text outside the root element"));
        }
        check_chars(raw)?;
        self.push_text(raw);
        Ok(())
    }

    fn push_text(&mut self, s: &str) {
        let Some(&id) = self.open.last() else {
            return;
        };
        let children = &mut self.elems[id].children;
        if let Some(Node::Text(t)) = children.last_mut() {
            t.push_str(s);
        } else {
            children.push(Node::Text(s.to_owned()));
        }
    }

    fn lookup(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        self.scope
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
            .filter(|u| !u.is_empty())
    }

    fn pop_scope(&mut self) {
        if let Some(mark) = self.scope_marks.pop() {
            self.scope.truncate(mark);
        }
    }

    fn start(&mut self, start: &BytesStart<'_>, empty: bool) -> Result<(), XmlError> {
        if self.root.is_some() && self.open.is_empty() {
            return Err(malformed("more than one root element"));
        }
        if self.elems.len() >= self.limits.max_elements {
            return Err(XmlError::TooManyElements {
                max: self.limits.max_elements,
            });
        }
        if self.open.len() + 1 > self.limits.max_depth {
            return Err(XmlError::TooDeep {
                max: self.limits.max_depth,
            });
        }
        let (prefix, local) = split_qname(start.name().into_inner())?;

        // Attributes: namespace declarations apart from the others.
        let mut decls: Vec<(String, String)> = Vec::new();
        let mut raw_attrs: Vec<(Option<String>, String, String)> = Vec::new();
        for (i, attr) in start.attributes().with_checks(true).enumerate() {
            if i >= MAX_ATTRIBUTES {
                return Err(malformed(format_args!(
                    "more than {MAX_ATTRIBUTES} attributes on one element"
                )));
            }
            let attr = attr.map_err(malformed)?;
            let key = attr.key.into_inner();
            let value = attr_value(&attr.value)?;
            if key == "xmlns" {
                decls.push((String::new(), value));
            } else if let Some(p) = key.strip_prefix("xmlns:") {
                decls.push((p.to_owned(), value));
            } else {
                let (p, l) = split_qname(key)?;
                raw_attrs.push((p.map(str::to_owned), l.to_owned(), value));
            }
        }
        for (p, uri) in &decls {
            check_declaration(p, uri)?;
        }
        if self.scope.len() + decls.len() > MAX_NAMESPACE_BINDINGS {
            return Err(malformed("too many namespace bindings"));
        }
        self.scope_marks.push(self.scope.len());
        self.scope.extend(decls.iter().cloned());

        let ns = match prefix {
            None => self.lookup("").map(str::to_owned),
            Some(p) => Some(self.lookup(p).ok_or_else(|| unbound(p))?.to_owned()),
        };
        let mut attrs: Vec<Attr> = Vec::with_capacity(raw_attrs.len());
        for (p, l, value) in raw_attrs {
            let ans = match p.as_deref() {
                None => None,
                Some(p) => Some(self.lookup(p).ok_or_else(|| unbound(p))?.to_owned()),
            };
            if attrs.iter().any(|a| a.ns == ans && a.local == l) {
                return Err(malformed("two attributes with the same expanded name"));
            }
            attrs.push(Attr {
                prefix: p,
                local: l,
                ns: ans,
                value,
            });
        }

        let id = self.elems.len();
        self.elems.push(Elem {
            parent: self.open.last().copied(),
            prefix: prefix.map(str::to_owned),
            local: local.to_owned(),
            ns,
            decls,
            attrs,
            children: Vec::new(),
        });
        match self.open.last() {
            Some(&parent) => self.elems[parent].children.push(Node::Elem(id)),
            None => self.root = Some(id),
        }
        if empty {
            self.pop_scope();
        } else {
            self.open.push(id);
        }
        Ok(())
    }
}

fn unbound(prefix: &str) -> XmlError {
    malformed(format_args!(
        "unbound namespace prefix {:?}",
        crate::text::truncated(prefix, 40)
    ))
}

/// `p:local` → `(Some("p"), "local")`; `local` → `(None, "local")`.
fn split_qname(name: &str) -> Result<(Option<&str>, &str), XmlError> {
    let bad = || {
        malformed(format_args!(
            "invalid name {:?}",
            crate::text::truncated(name, 40)
        ))
    };
    if name.is_empty() || name.chars().any(|c| !is_name_char(c)) {
        return Err(bad());
    }
    match name.split_once(':') {
        None => Ok((None, name)),
        Some((p, l)) if !p.is_empty() && !l.is_empty() && !l.contains(':') => Ok((Some(p), l)),
        Some(_) => Err(bad()),
    }
}

/// Characters that may appear in an XML name (start-character rules are
/// quick-xml's business; this refuses whitespace, markup and controls).
fn is_name_char(c: char) -> bool {
    is_xml_char(c)
        && !c.is_whitespace()
        && !matches!(
            c,
            '<' | '>' | '&' | '"' | '\'' | '=' | '/' | '?' | '!' | '\u{0}'..='\u{1F}'
        )
}

fn check_declaration(prefix: &str, uri: &str) -> Result<(), XmlError> {
    if prefix == "xmlns" {
        return Err(malformed("the prefix xmlns must not be declared"));
    }
    if prefix == "xml" {
        if uri != XML_NS {
            return Err(malformed(
                "the prefix xml is bound to its own namespace only",
            ));
        }
        return Ok(());
    }
    if uri == XML_NS || uri == XMLNS_NS {
        return Err(malformed("a reserved namespace bound to another prefix"));
    }
    if uri.is_empty() {
        if prefix.is_empty() {
            return Ok(()); // xmlns="": no default namespace
        }
        return Err(malformed(format_args!(
            "xmlns:{}=\"\" (undeclaring a prefix is XML 1.1 only)",
            crate::text::truncated(prefix, 40)
        )));
    }
    if !is_absolute_uri(uri) {
        return Err(malformed(format_args!(
            "relative namespace URI {:?}",
            crate::text::truncated(uri, 60)
        )));
    }
    Ok(())
}

/// `scheme:…` with an RFC 3986 scheme.
fn is_absolute_uri(uri: &str) -> bool {
    let Some((scheme, _)) = uri.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn check_chars(s: &str) -> Result<(), XmlError> {
    match s.chars().find(|&c| !is_xml_char(c)) {
        None => Ok(()),
        Some(c) => Err(malformed(format_args!(
            "character U+{:04X} is not allowed in XML",
            u32::from(c)
        ))),
    }
}

/// An attribute's raw value → its normalized value (XML 1.0 §3.3.3 for a
/// CDATA attribute): references resolved, literal whitespace characters
/// replaced by a space (line ends were already normalized).
fn attr_value(raw: &str) -> Result<String, XmlError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '<', '\t', '\n', '\r']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with('<') {
            return Err(malformed("'<' in an attribute value"));
        }
        if let Some(after) = tail.strip_prefix('&') {
            let end = after
                .find(';')
                .filter(|&e| e <= 40)
                .ok_or_else(|| malformed("unterminated reference in an attribute value"))?;
            let name = &after[..end];
            out.push(resolve_reference(name)?);
            rest = &after[end + 1..];
        } else {
            out.push(' ');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    check_chars(&out)?;
    Ok(out)
}

fn resolve_reference(name: &str) -> Result<char, XmlError> {
    let Some(num) = name.strip_prefix('#') else {
        return predefined_entity(name).ok_or_else(|| XmlError::UnknownEntity {
            name: crate::text::truncated(name, 40),
        });
    };
    let code = match num.strip_prefix('x') {
        Some(hex) if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
            u32::from_str_radix(hex, 16).ok()
        }
        None if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) => num.parse().ok(),
        _ => None,
    };
    code.and_then(char::from_u32)
        .filter(|&c| is_xml_char(c))
        .ok_or_else(|| XmlError::InvalidCharRef {
            reference: crate::text::truncated(name, 16),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: XmlLimits = XmlLimits {
        max_bytes: 4096,
        max_depth: 8,
        max_elements: 50,
    };

    fn parse_str(s: &str) -> Result<Doc, XmlError> {
        parse(s.as_bytes(), LIMITS)
    }

    #[test]
    fn keeps_everything_c14n_needs() {
        let d = parse_str(
            "<?p before?><!--c--><a xmlns='urn:a' xmlns:b='urn:b' b:x='1&#10;2\n3' y=\"&lt;\">t<!--in-->\r\nu<![CDATA[<v>]]>&amp;<b:c/></a><?p after?>",
        )
        .unwrap();
        assert_eq!(d.prolog.len(), 2);
        assert_eq!(d.epilog.len(), 1);
        let a = &d.elems[d.root];
        assert_eq!(a.ns.as_deref(), Some("urn:a"));
        assert_eq!(
            a.decls,
            vec![("".into(), "urn:a".into()), ("b".into(), "urn:b".into())]
        );
        assert_eq!(a.attrs[0].ns.as_deref(), Some("urn:b"));
        assert_eq!(a.attrs[0].value, "1\n2 3");
        assert_eq!(a.attr("y"), Some("<"));
        assert_eq!(
            a.children[..3],
            [
                Node::Text("t".into()),
                Node::Comment("in".into()),
                Node::Text("\nu<v>&".into())
            ]
        );
        let c = &d.elems[1];
        assert!(c.is("urn:b", "c"));
        assert_eq!(c.parent, Some(0));
    }

    #[test]
    fn refuses_what_has_no_canonical_form() {
        for doc in [
            "<a xmlns:p=''/>",
            "<a xmlns='rel/ative'/>",
            "<a xmlns:xml='urn:x'/>",
            "<a xmlns:xmlns='urn:x'/>",
            "<a xmlns:p='http://www.w3.org/XML/1998/namespace'/>",
            "<a xmlns:p='urn:p' xmlns:q='urn:p' p:x='1' q:x='2'/>",
            "<a x='<'/>",
            "<a x='&#1;'/>",
            "<a>\u{1}</a>",
            "<a/><?xml version='1.0'?>",
            "<p:a/>",
            "<a b:c='1'/>",
            "<a:b:c xmlns:a='urn:a'/>",
        ] {
            assert!(parse_str(doc).is_err(), "{doc}");
        }
        assert_eq!(
            parse_str("<!DOCTYPE a><a/>").unwrap_err(),
            XmlError::DoctypeNotAllowed
        );
        assert!(matches!(
            parse_str("<a x='&foo;'/>"),
            Err(XmlError::UnknownEntity { .. })
        ));
    }

    #[test]
    fn line_ends_are_normalized_before_parsing() {
        let d = parse_str("<a x='1\r\n2'>\r\r\n&#13;</a>").unwrap();
        let a = &d.elems[d.root];
        assert_eq!(a.attr("x"), Some("1 2"));
        assert_eq!(a.children, vec![Node::Text("\n\n\r".into())]);
    }
}
