//! Block devices: the I/O scheduler of each disk, and whether it spins.
//!
//! The commit log is written with O_DIRECT through io_uring and already batches (group
//! commit); a scheduler on an NVMe queue only adds latency and CPU on the shard's core.

use crate::host::Host;
use crate::item::{Item, Status};
use crate::parse;

const BLOCK_FOLDER: &str = "sys/block";

/// Devices that are not disks a commit log would live on.
const VIRTUAL_PREFIXES: [&str; 8] = ["loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd"];

/// One item per disk: `block_scheduler:<device>`; one `block_devices` item if the folder
/// cannot be listed.
pub fn block_devices(host: &Host) -> Vec<Item> {
    let devices = match host.list(BLOCK_FOLDER) {
        Ok(devices) => devices,
        Err(unreadable) => {
            return vec![Item::unknown(
                "block_devices",
                "none on NVMe",
                unreadable.describe(),
            )]
        }
    };
    devices
        .iter()
        .filter(|device| {
            !VIRTUAL_PREFIXES
                .iter()
                .any(|prefix| device.starts_with(prefix))
        })
        .map(|device| scheduler(host, device))
        .collect()
}

fn scheduler(host: &Host, device: &str) -> Item {
    let name = format!("block_scheduler:{device}");
    let queue = format!("{BLOCK_FOLDER}/{device}/queue");
    let nvme = device.starts_with("nvme");
    let read = host
        .read_parsed(&format!("{queue}/scheduler"), |text| {
            parse::selected_choice(text).map(str::to_string)
        })
        .and_then(|scheduler| {
            let rotational =
                host.read_parsed(&format!("{queue}/rotational"), parse::single_integer)?;
            Ok((scheduler, rotational == 1))
        });
    let recommended = if nvme {
        "none"
    } else {
        "none or mq-deadline (SSD)"
    };
    let (scheduler, rotational) = match read {
        Ok(read) => read,
        Err(unreadable) => return Item::unknown(&name, recommended, unreadable.describe()),
    };
    let scheduler_fix = format!(
        "echo none > /{queue}/scheduler; persist: tuning/60-shardmq-scheduler.rules in \
         /etc/udev/rules.d/"
    );
    let (status, reason, fix) = if rotational {
        (
            Status::Warn,
            "a spinning disk: keep the commit log off it (each fsync waits for a seek)",
            "put the commit log on an NVMe or SSD device of its own".to_string(),
        )
    } else if scheduler == "none" || (!nvme && scheduler == "mq-deadline") {
        (
            Status::Ok,
            "O_DIRECT commit-log writes go straight to the device queues",
            scheduler_fix,
        )
    } else {
        (
            Status::Warn,
            "a scheduler on NVMe adds latency and CPU to every commit-log write",
            scheduler_fix,
        )
    };
    Item {
        name,
        current: format!(
            "{scheduler}, {}",
            if rotational {
                "rotational"
            } else {
                "solid state"
            }
        ),
        recommended: recommended.to_string(),
        status,
        reason: reason.to_string(),
        fix,
    }
}
