//! A YAML (or JSON) document as a tree of nodes, each with the place it was
//! read from. The parsing is serde-saphyr's; this is only the shape the
//! inventory reader walks, so that a malformed field can be reported at its
//! own line.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// One value of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Item>),
    Map(Vec<(Item, Item)>),
}

/// A node, the byte offset it starts at and its length in bytes (`None`
/// when the parser did not say).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub node: Node,
    pub at: Option<usize>,
    pub len: Option<usize>,
}

impl Item {
    /// The value of key `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Item> {
        match &self.node {
            Node::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.node, Node::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, when this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.node {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// True for `null`, `~` or an empty value.
    pub fn is_null(&self) -> bool {
        matches!(self.node, Node::Null)
    }

    /// True for a scalar (not a sequence or mapping).
    pub fn is_scalar(&self) -> bool {
        !matches!(self.node, Node::Seq(_) | Node::Map(_))
    }

    /// What kind of value this is, for messages ("a sequence").
    pub fn describe(&self) -> &'static str {
        match self.node {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) => "a number",
            Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a sequence",
            Node::Map(_) => "a mapping",
        }
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<Node>::deserialize(d)?;
        let span = s.referenced.span();
        let at = span.byte_offset().and_then(|b| usize::try_from(b).ok());
        let len = span.byte_len().and_then(|b| usize::try_from(b).ok());
        Ok(Item {
            node: s.value,
            at,
            len,
        })
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(i128::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Node, E> {
        Ok(Node::Str(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<Item>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some((k, v)) = map.next_entry::<Item, Item>()? {
            entries.push((k, v));
        }
        Ok(Node::Map(entries))
    }
}
