//! Memory: transparent huge pages and swappiness, both of which can stall a whole shard.

use crate::host::Host;
use crate::item::{Item, Status};
use crate::parse;
use crate::thresholds::SWAPPINESS_MAX;

/// `transparent_hugepage`: `madvise` or `never`. With `always`, page faults may stop to
/// compact memory, and khugepaged's work lands on whichever core faulted: a shard's.
pub fn transparent_hugepage(host: &Host) -> Item {
    const NAME: &str = "transparent_hugepage";
    const FILE: &str = "sys/kernel/mm/transparent_hugepage/enabled";
    let recommended = "madvise or never";
    let mode = match host.read_parsed(FILE, |text| {
        parse::selected_choice(text).map(str::to_string)
    }) {
        Ok(mode) => mode,
        Err(unreadable) => return Item::unknown(NAME, recommended, unreadable.describe()),
    };
    let good = mode == "madvise" || mode == "never";
    Item {
        name: NAME.to_string(),
        current: mode,
        recommended: recommended.to_string(),
        status: if good { Status::Ok } else { Status::Warn },
        reason: "with always, a page fault can stall a shard's core on compaction".to_string(),
        fix: format!(
            "echo madvise > /{FILE}; persist: transparent_hugepage=madvise on the kernel \
             command line"
        ),
    }
}

/// `swappiness`: `vm.swappiness` at most 10.
pub fn swappiness(host: &Host) -> Item {
    const NAME: &str = "swappiness";
    const FILE: &str = "proc/sys/vm/swappiness";
    let recommended = format!("<= {SWAPPINESS_MAX}");
    let value = match host.read_parsed(FILE, parse::single_integer) {
        Ok(value) => value,
        Err(unreadable) => return Item::unknown(NAME, recommended, unreadable.describe()),
    };
    Item {
        name: NAME.to_string(),
        current: value.to_string(),
        recommended,
        status: if value <= SWAPPINESS_MAX {
            Status::Ok
        } else {
            Status::Warn
        },
        reason: "a swapped-out page of a shard stalls its whole core, not one thread of many"
            .to_string(),
        fix: format!(
            "sysctl -w vm.swappiness={SWAPPINESS_MAX} (persist: /etc/sysctl.d/99-shardmq.conf)"
        ),
    }
}
