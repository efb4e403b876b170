//! Maps field paths (`expect[2].increase`) to positions in the YAML text.
//!
//! serde reports *which* field is wrong but not *where* it is once values are
//! deserialized from an in-memory tree, so we walk yaml-rust2's marked events
//! once and remember where every key and value starts.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Position of a node: its key (for mapping entries) and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Default)]
pub struct LineIndex {
    keys: HashMap<String, Pos>,
    values: HashMap<String, Pos>,
}

enum Frame {
    Map { path: String, pending_key: Option<String> },
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Builder {
    index: LineIndex,
    stack: Vec<Frame>,
    root_seen: bool,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

impl Builder {
    /// Path of the node that starts now, or None when the event is a mapping key.
    fn node_path(&mut self, scalar: Option<&str>, mark: Marker) -> Option<String> {
        let pos = Pos { line: mark.line(), col: mark.col() + 1 };
        match self.stack.last_mut() {
            None => {
                self.root_seen = true;
                Some(String::new())
            }
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                self.index.values.entry(p.clone()).or_insert(pos);
                Some(p)
            }
            Some(Frame::Map { path, pending_key }) => match pending_key.take() {
                Some(key) => {
                    let p = join(path, &key);
                    self.index.values.entry(p.clone()).or_insert(pos);
                    Some(p)
                }
                None => {
                    // This node is a key. Only scalar keys are addressable.
                    let key = scalar.unwrap_or("?").to_string();
                    self.index.keys.entry(join(path, &key)).or_insert(pos);
                    *pending_key = Some(key);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => {
                self.node_path(Some(&value), mark);
            }
            Event::Alias(_) => {
                self.node_path(None, mark);
            }
            Event::MappingStart(..) => {
                let path = self.node_path(None, mark).unwrap_or_else(|| "?".into());
                self.stack.push(Frame::Map { path, pending_key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.node_path(None, mark).unwrap_or_else(|| "?".into());
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl LineIndex {
    /// Index a YAML document. Syntax errors leave a partial index (the caller
    /// reports them from serde's own error, which has a position).
    pub fn build(text: &str) -> Self {
        let mut b = Builder::default();
        let _ = Parser::new_from_str(text).load(&mut b, false);
        b.index
    }

    /// Position for a path: the key if the path names a mapping entry, else
    /// the value; falls back to the nearest ancestor that exists.
    pub fn locate(&self, path: &str) -> Option<Pos> {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.keys.get(&p).or_else(|| self.values.get(&p)) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
            if p.is_empty() {
                return None;
            }
        }
    }

    /// Position of the value (not the key) at a path, e.g. for a bad window expression.
    pub fn locate_value(&self, path: &str) -> Option<Pos> {
        self.values.get(path).copied().or_else(|| self.locate(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "name: x\nstack:\n  services:\n    worker:\n      command: w\n      env:\n        A: 1\nexpect:\n  - kind: metric\n    metric: m\n  - kind: health\n    during: fault\n";

    #[test]
    fn finds_nested_keys_and_sequence_items() {
        let idx = LineIndex::build(DOC);
        assert_eq!(idx.locate("stack.services.worker.command").unwrap().line, 5);
        assert_eq!(idx.locate("stack.services.worker.env.A").unwrap().line, 7);
        assert_eq!(idx.locate("expect[1].during").unwrap().line, 12);
        assert_eq!(idx.locate("expect[0]").unwrap().line, 9);
    }

    #[test]
    fn falls_back_to_nearest_ancestor() {
        let idx = LineIndex::build(DOC);
        assert_eq!(idx.locate("expect[1].missing").unwrap().line, 11);
        assert_eq!(idx.locate_value("expect[1].during").unwrap(), Pos { line: 12, col: 13 });
    }
}
