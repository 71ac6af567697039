//! What a check produces: one [`Item`] per setting, and a [`Problem`] per fatal item.

use std::fmt;

use serde::Serialize;

/// How a setting stands against what the broker wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// As recommended.
    #[serde(rename = "ok")]
    Ok,
    /// The broker runs, but slower or less predictably than it could.
    #[serde(rename = "warn")]
    Warn,
    /// The broker cannot start (or cannot run its shards) with this setting.
    #[serde(rename = "FATAL")]
    Fatal,
    /// The file was missing or unparsable; the reason names it.
    #[serde(rename = "unknown")]
    Unknown,
}

impl Status {
    /// The word printed in the table and the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fatal => "FATAL",
            Status::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One checked setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Stable name, units last (`memlock_bytes`, `block_scheduler:nvme0n1`).
    pub name: String,
    /// What the host has now (`unknown` when it could not be read).
    pub current: String,
    /// What the broker wants.
    pub recommended: String,
    pub status: Status,
    /// One line: why it matters, or which file could not be read.
    pub reason: String,
    /// The command (or unit line) that sets the recommended value; the guide says how to make
    /// it persist.
    pub fix: String,
}

impl Item {
    /// An item whose file was missing or unparsable; `reason` names the file.
    pub fn unknown(name: &str, recommended: impl Into<String>, reason: impl Into<String>) -> Item {
        Item {
            name: name.to_string(),
            current: "unknown".to_string(),
            recommended: recommended.into(),
            status: Status::Unknown,
            reason: reason.into(),
            fix: String::new(),
        }
    }
}

/// A setting that stops the broker, as one line with the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The item's name.
    pub item: String,
    /// What is wrong (current against required).
    pub what: String,
    /// How to fix it.
    pub fix: String,
}

impl Problem {
    /// The problem of a fatal item.
    pub fn from_item(item: &Item) -> Problem {
        Problem {
            item: item.name.clone(),
            what: format!(
                "{} is {}, needs {}: {}",
                item.name, item.current, item.recommended, item.reason
            ),
            fix: item.fix.clone(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} — fix: {}", self.what, self.fix)
    }
}
