//! Maps field paths (`expect[2].increase`) to positions in the YAML text.
//!
//! serde reports *which* field is wrong but not *where* it is once values are
//! deserialized from an in-memory tree, so we walk yaml-rust2's marked events
//! once and remember where every key and value starts. A field that came in
//! through a merge key (`<<: *svc`) is found where the anchor (`&svc`)
//! defines it.

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
    /// Mapping path -> paths of the anchored nodes its `<<` merges, in order.
    merges: HashMap<String, Vec<String>>,
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
    /// Anchor id -> path of the node it names.
    anchors: HashMap<usize, String>,
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

impl Builder {
    fn anchor(&mut self, id: usize, path: Option<&String>) {
        if let (true, Some(p)) = (id > 0, path) {
            self.anchors.insert(id, p.clone());
        }
    }

    /// `<<: *a` (path `m.<<`) or `<<: [*a, *b]` (`m.<<[0]`): `m` merges `a`.
    fn alias(&mut self, id: usize, path: Option<String>) {
        let (Some(path), Some(target)) = (path, self.anchors.get(&id)) else { return };
        let base = match path.rfind("[") {
            Some(i) if path[..i].ends_with("<<") => &path[..i],
            _ => path.as_str(),
        };
        if let Some(map) = base.strip_suffix("<<").map(|m| m.strip_suffix('.').unwrap_or(m)) {
            self.index.merges.entry(map.to_string()).or_default().push(target.clone());
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, _, anchor, _) => {
                let path = self.node_path(Some(&value), mark);
                self.anchor(anchor, path.as_ref());
            }
            Event::Alias(id) => {
                let path = self.node_path(None, mark);
                self.alias(id, path);
            }
            Event::MappingStart(anchor, _) => {
                let path = self.node_path(None, mark).unwrap_or_else(|| "?".into());
                self.anchor(anchor, Some(&path));
                self.stack.push(Frame::Map { path, pending_key: None });
            }
            Event::SequenceStart(anchor, _) => {
                let path = self.node_path(None, mark).unwrap_or_else(|| "?".into());
                self.anchor(anchor, Some(&path));
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
        self.locate_depth(path).map(|(pos, _)| pos)
    }

    /// [`LineIndex::locate`] and how many characters of `path` were found
    /// (all of it, or the ancestor the position belongs to): of several
    /// files that a merged document came from, the deepest match is the one
    /// that wrote the field.
    pub fn locate_depth(&self, path: &str) -> Option<(Pos, usize)> {
        self.find(path, 0).filter(|&(_, depth)| depth > 0)
    }

    fn exact(&self, path: &str) -> Option<Pos> {
        self.keys.get(path).or_else(|| self.values.get(path)).copied()
    }

    /// The deepest located prefix of `path`; a field merged in by `<<` is
    /// looked up under its anchor. `hops` bounds chains of merges.
    fn find(&self, path: &str, hops: usize) -> Option<(Pos, usize)> {
        let mut cut = path.len();
        loop {
            let p = &path[..cut];
            if let Some(pos) = self.exact(p) {
                if cut < path.len() && hops < 8 {
                    for anchor in self.merges.get(p).into_iter().flatten() {
                        let rest = &path[cut..];
                        if let Some((pos, depth)) = self.find(&format!("{anchor}{rest}"), hops + 1)
                            && depth > anchor.len()
                        {
                            return Some((pos, cut + depth - anchor.len()));
                        }
                    }
                }
                return Some((pos, cut));
            }
            cut = p.rfind(['.', '['])?;
            if cut == 0 {
                return None;
            }
        }
    }

    /// Position of the value (not the key) at a path, e.g. for a bad window expression.
    pub fn locate_value(&self, path: &str) -> Option<Pos> {
        self.locate_value_depth(path).map(|(pos, _)| pos)
    }

    /// [`LineIndex::locate_value`] with the depth of the match.
    pub fn locate_value_depth(&self, path: &str) -> Option<(Pos, usize)> {
        self.values.get(path).map(|&pos| (pos, path.len())).or_else(|| self.locate_depth(path))
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
