//! A full check's result, printed as a table for people or as JSON for scripts.

use std::fmt::Write;

use serde::Serialize;

use crate::item::{Item, Status};

/// Everything one `mqtune --check` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The root the files were read under (`/` for the live host).
    pub root: String,
    /// The shard count judged against (locked memory, cores).
    pub shards: usize,
    /// How many items are FATAL: the broker will not start while this is above zero.
    pub fatal: usize,
    pub items: Vec<Item>,
}

impl Report {
    pub fn new(root: String, shards: usize, items: Vec<Item>) -> Report {
        let fatal = items
            .iter()
            .filter(|item| item.status == Status::Fatal)
            .count();
        Report {
            root,
            shards,
            fatal,
            items,
        }
    }

    /// The item called `name`, if it was checked.
    pub fn item(&self, name: &str) -> Option<&Item> {
        self.items.iter().find(|item| item.name == name)
    }

    /// Pretty JSON: `{ "root", "shards", "fatal", "items": [{name, current, recommended,
    /// status, reason, fix}] }`.
    pub fn json(&self) -> String {
        // A struct of strings and integers always serializes.
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
    }

    /// Aligned columns (item, current, recommended, status, reason), then the fix of every
    /// item that is not ok, then a count per status.
    pub fn table(&self) -> String {
        let headers = ["ITEM", "CURRENT", "RECOMMENDED", "STATUS", "REASON"];
        let rows: Vec<[&str; 5]> = self
            .items
            .iter()
            .map(|item| {
                [
                    item.name.as_str(),
                    item.current.as_str(),
                    item.recommended.as_str(),
                    item.status.as_str(),
                    item.reason.as_str(),
                ]
            })
            .collect();
        let mut widths = headers.map(|header| header.chars().count());
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = format!("host {}, {} shards\n\n", self.root, self.shards);
        for row in std::iter::once(&headers).chain(&rows) {
            let mut line = String::new();
            for (index, (cell, width)) in row.iter().zip(widths).enumerate() {
                if index + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let to_fix: Vec<&Item> = self
            .items
            .iter()
            .filter(|item| matches!(item.status, Status::Fatal | Status::Warn))
            .filter(|item| !item.fix.is_empty())
            .collect();
        if !to_fix.is_empty() {
            out.push_str("\nto fix (see tuning/README.md to make each persist):\n");
            for item in to_fix {
                let _ = writeln!(out, "  {} {}: {}", item.status, item.name, item.fix);
            }
        }
        let count = |status| {
            self.items
                .iter()
                .filter(|item| item.status == status)
                .count()
        };
        let _ = writeln!(
            out,
            "\n{} ok, {} warn, {} FATAL, {} unknown",
            count(Status::Ok),
            count(Status::Warn),
            count(Status::Fatal),
            count(Status::Unknown)
        );
        out
    }
}
