//! CPUs: shards against usable cores, isolation (`isolcpus`, `nohz_full`), NUMA, where the
//! NIC's interrupts land, and the clock source every timestamp is read from.

use crate::host::{Host, Unreadable};
use crate::item::{Item, Status};
use crate::parse::{self, CpuSet};
use crate::thresholds::{shards_max, CORES_FOR_SPARE_CORE};

const ONLINE_FILE: &str = "sys/devices/system/cpu/online";
const STATUS_FILE: &str = "proc/self/status";
const CMDLINE_FILE: &str = "proc/cmdline";
const NODE_FOLDER: &str = "sys/devices/system/node";
const INTERRUPTS_FILE: &str = "proc/interrupts";
const CLOCKSOURCE_FILE: &str = "sys/devices/system/clocksource/clocksource0/current_clocksource";

/// Most NUMA nodes read; larger machines are judged on their first nodes.
const NUMA_NODES_MAX: usize = 64;

/// CPUs the broker can run shards on: online, and in this process's affinity
/// (`Cpus_allowed_list`, which `taskset`, `numactl` and `CPUAffinity=` narrow).
pub fn usable_cpus(host: &Host) -> Result<CpuSet, Unreadable> {
    let online = host.read_parsed(ONLINE_FILE, parse::cpu_list)?;
    let allowed = host
        .read(STATUS_FILE)
        .ok()
        .and_then(|status| parse::cpu_list(parse::status_field(&status, "Cpus_allowed_list")?));
    Ok(match allowed {
        Some(allowed) => online.intersection(&allowed).copied().collect(),
        None => online,
    })
}

/// `shards`: at most the usable CPUs, less one for the OS and interrupts from 4 CPUs on.
pub fn shards(host: &Host, shards: usize) -> Item {
    const NAME: &str = "shards";
    let cpus = match usable_cpus(host) {
        Ok(cpus) => cpus,
        Err(unreadable) => return Item::unknown(NAME, "<= usable CPUs - 1", unreadable.describe()),
    };
    let max = shards_max(cpus.len());
    let reason = if shards > cpus.len() {
        "more shards than CPUs: executors share cores and every shard's latency suffers"
    } else if cpus.len() >= CORES_FOR_SPARE_CORE {
        "leave one core to the OS and the NIC's interrupts, or they preempt a shard"
    } else {
        "with fewer than 4 CPUs every one runs a shard"
    };
    Item {
        name: NAME.to_string(),
        current: format!(
            "{shards} on {} usable CPUs ({})",
            cpus.len(),
            parse::format_cpu_list(&cpus)
        ),
        recommended: format!("<= {max}"),
        status: if shards <= max {
            Status::Ok
        } else {
            Status::Warn
        },
        reason: reason.to_string(),
        fix: format!("start the broker with at most {max} shards"),
    }
}

/// The CPU list of `key=` on the kernel command line: `Ok(None)` when it is not there.
fn cmdline_cpus(
    host: &Host,
    key: &str,
    cpus_of: fn(&str) -> Option<CpuSet>,
) -> Result<Option<CpuSet>, Unreadable> {
    let cmdline = host.read(CMDLINE_FILE)?;
    let Some(value) = parse::cmdline_value(&cmdline, key) else {
        return Ok(None);
    };
    cpus_of(value).map(Some).ok_or_else(|| Unreadable {
        path: host.root().join(CMDLINE_FILE).display().to_string(),
        reason: format!("unexpected {key}={value}"),
    })
}

/// `isolcpus`: optional; when set, the shards should fit in the isolated usable CPUs, and at
/// least one usable CPU should be left for everything else.
pub fn isolcpus(host: &Host, shards: usize) -> Item {
    const NAME: &str = "isolcpus";
    let recommended = "optional: the shards' CPUs, on a dedicated host";
    let fix = "add isolcpus=managed_irq,domain,<shard CPUs> to GRUB_CMDLINE_LINUX and reboot";
    let isolated = match cmdline_cpus(host, "isolcpus", parse::isolcpus_cpus) {
        Ok(isolated) => isolated,
        Err(unreadable) => return Item::unknown(NAME, recommended, unreadable.describe()),
    };
    let Some(isolated) = isolated else {
        return Item {
            name: NAME.to_string(),
            current: "not set".to_string(),
            recommended: recommended.to_string(),
            status: Status::Ok,
            reason: "without it the scheduler may run other tasks on a shard's core".to_string(),
            fix: fix.to_string(),
        };
    };
    let usable = usable_cpus(host).unwrap_or_default();
    let isolated_usable = isolated.intersection(&usable).count();
    let (status, reason) = if !usable.is_empty() && isolated_usable == usable.len() {
        (
            Status::Warn,
            "every usable CPU is isolated: the OS and interrupts crowd onto the shards' cores"
                .to_string(),
        )
    } else if shards > isolated_usable {
        (
            Status::Warn,
            format!(
                "{shards} shards but {isolated_usable} isolated usable CPUs: the rest share \
                 cores with the OS"
            ),
        )
    } else {
        (
            Status::Ok,
            "the shards fit in the isolated CPUs".to_string(),
        )
    };
    Item {
        name: NAME.to_string(),
        current: parse::format_cpu_list(&isolated),
        recommended: recommended.to_string(),
        status,
        reason,
        fix: fix.to_string(),
    }
}

/// `nohz_full`: optional; when set it should name the same CPUs as `isolcpus`, so isolated
/// shard cores also lose the scheduler tick.
pub fn nohz_full(host: &Host) -> Item {
    const NAME: &str = "nohz_full";
    let recommended = "optional: the same CPUs as isolcpus";
    let read = cmdline_cpus(host, "nohz_full", parse::cpu_list)
        .and_then(|nohz| Ok((nohz, cmdline_cpus(host, "isolcpus", parse::isolcpus_cpus)?)));
    let (nohz, isolated) = match read {
        Ok(both) => both,
        Err(unreadable) => return Item::unknown(NAME, recommended, unreadable.describe()),
    };
    let (current, status, reason) = match (&nohz, &isolated) {
        (None, _) => (
            "not set".to_string(),
            Status::Ok,
            "without it a busy shard core still takes the scheduler tick",
        ),
        (Some(nohz), Some(isolated)) if nohz != isolated => (
            parse::format_cpu_list(nohz),
            Status::Warn,
            "differs from isolcpus: isolate and quiet the same shard CPUs",
        ),
        (Some(nohz), _) => (
            parse::format_cpu_list(nohz),
            Status::Ok,
            "the tick is stopped on these CPUs while one task runs",
        ),
    };
    Item {
        name: NAME.to_string(),
        current,
        recommended: recommended.to_string(),
        status,
        reason: reason.to_string(),
        fix: "add nohz_full=<shard CPUs> (same as isolcpus) to GRUB_CMDLINE_LINUX and reboot"
            .to_string(),
    }
}

/// `numa_nodes`: on a multi-socket host the usable CPUs should lie in one node (one broker
/// per socket), so shards never read memory across the interconnect.
pub fn numa(host: &Host) -> Item {
    const NAME: &str = "numa_nodes";
    let recommended = "usable CPUs in one node";
    let fix = "one broker per node: numactl --cpunodebind=N --membind=N, or CPUAffinity= and \
               NUMAPolicy=bind / NUMAMask= in the unit";
    let nodes: Vec<String> = match host.list(NODE_FOLDER) {
        Ok(names) => names
            .into_iter()
            .filter(|name| {
                name.strip_prefix("node")
                    .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            })
            .take(NUMA_NODES_MAX)
            .collect(),
        Err(unreadable) => return Item::unknown(NAME, recommended, unreadable.describe()),
    };
    let usable = match usable_cpus(host) {
        Ok(usable) => usable,
        Err(unreadable) => return Item::unknown(NAME, recommended, unreadable.describe()),
    };
    let mut spanned = Vec::new();
    for node in &nodes {
        let file = format!("{NODE_FOLDER}/{node}/cpulist");
        match host.read_parsed(&file, parse::cpu_list) {
            Ok(cpus) if !cpus.is_disjoint(&usable) => spanned.push(node.as_str()),
            Ok(_) => {}
            Err(unreadable) => return Item::unknown(NAME, recommended, unreadable.describe()),
        }
    }
    let (status, reason) = match spanned.len() {
        0 if nodes.is_empty() => (Status::Unknown, "no node folders found".to_string()),
        0 | 1 => (
            Status::Ok,
            "shards and their memory stay in one node".to_string(),
        ),
        _ => (
            Status::Warn,
            "usable CPUs span nodes: shards would reach memory across sockets".to_string(),
        ),
    };
    Item {
        name: NAME.to_string(),
        current: format!(
            "{} node{}; usable CPUs in {}",
            nodes.len(),
            if nodes.len() == 1 { "" } else { "s" },
            if spanned.is_empty() {
                "none".to_string()
            } else {
                spanned.join(",")
            }
        ),
        recommended: recommended.to_string(),
        status,
        reason,
        fix: fix.to_string(),
    }
}

/// Whether an interrupt description is a NIC queue: driver names for queue vectors
/// (`eth0-TxRx-3`, `mlx5_comp7@pci:...`, `virtio1-input.0`, `enp3s0-rx-0`). virtio-net
/// numbers its queues; a bare `virtioN-input` is another virtio device.
fn is_nic_queue(description: &str) -> bool {
    let name = description.rsplit(' ').next().unwrap_or("");
    ["TxRx", "-rx-", "-tx-", "mlx5_comp", "mlx4-"]
        .iter()
        .any(|marker| name.contains(marker))
        || (name.starts_with("virtio") && (name.contains("-input.") || name.contains("-output.")))
}

/// `nic_irqs` (only when `/proc/interrupts` exists): NIC queue interrupts should not land on
/// isolated CPUs. Counts are since boot, so a recent affinity change still shows old counts.
pub fn nic_interrupts(host: &Host) -> Option<Item> {
    const NAME: &str = "nic_irqs";
    let recommended = "on CPUs that run no shard";
    if !host.exists(INTERRUPTS_FILE) {
        return None;
    }
    let lines = match host.read_parsed(INTERRUPTS_FILE, parse::interrupts) {
        Ok(lines) => lines,
        Err(unreadable) => return Some(Item::unknown(NAME, recommended, unreadable.describe())),
    };
    let mut queues = 0;
    let mut cpus_hit = CpuSet::new();
    for line in lines.iter().filter(|line| is_nic_queue(&line.description)) {
        queues += 1;
        cpus_hit.extend(
            line.counts_by_cpu
                .iter()
                .filter(|(_, count)| *count > 0)
                .map(|(cpu, _)| *cpu),
        );
    }
    let isolated = cmdline_cpus(host, "isolcpus", parse::isolcpus_cpus)
        .ok()
        .flatten()
        .unwrap_or_default();
    let on_isolated: CpuSet = cpus_hit.intersection(&isolated).copied().collect();
    let (status, reason) = if queues == 0 {
        (Status::Ok, "no NIC queue interrupts recognised".to_string())
    } else if !on_isolated.is_empty() {
        (
            Status::Warn,
            format!(
                "NIC interrupts on isolated CPUs {}: they preempt the shards there",
                parse::format_cpu_list(&on_isolated)
            ),
        )
    } else {
        (
            Status::Ok,
            "keep them off the shards' cores (irqbalance --banirq, or smp_affinity_list)"
                .to_string(),
        )
    };
    Some(Item {
        name: NAME.to_string(),
        current: format!(
            "{queues} queues, fired on CPUs {}",
            parse::format_cpu_list(&cpus_hit)
        ),
        recommended: recommended.to_string(),
        status,
        reason,
        fix: "echo <spare CPUs> > /proc/irq/<n>/smp_affinity_list for each NIC queue; \
              IRQBALANCE_BANNED_CPULIST=<shard CPUs> for irqbalance"
            .to_string(),
    })
}

/// `clocksource`: `tsc` (x86) or `arch_sys_counter` (arm64), read in user space by the vDSO;
/// `hpet` and `acpi_pm` make every clock read a slow device access.
pub fn clocksource(host: &Host) -> Item {
    const NAME: &str = "clocksource";
    let recommended = "tsc (x86_64) or arch_sys_counter (aarch64)";
    let source = match host.read_parsed(CLOCKSOURCE_FILE, |text| {
        parse::selected_choice(text).map(str::to_string)
    }) {
        Ok(source) => source,
        Err(unreadable) => return Item::unknown(NAME, recommended, unreadable.describe()),
    };
    let good = source == "tsc" || source == "arch_sys_counter";
    Item {
        name: NAME.to_string(),
        current: source,
        recommended: recommended.to_string(),
        status: if good { Status::Ok } else { Status::Warn },
        reason: "every message is timestamped; a slow clock source costs each of them a \
                 device read"
            .to_string(),
        fix: "echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource \
              (if in available_clocksource); persist: clocksource=tsc on the kernel command line"
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::is_nic_queue;

    #[test]
    fn nic_queue_names_of_common_drivers_are_recognised_and_disks_are_not() {
        for name in [
            "IR-PCI-MSI 1048577-edge eth0-TxRx-0",
            "PCI-MSI 1-edge mlx5_comp3@pci:0000:3b:00.0",
            "PCI-MSIX-0000:00:03.0 1-edge virtio2-output.0",
            "PCI-MSI 2-edge enp3s0-rx-0",
        ] {
            assert!(is_nic_queue(name), "{name}");
        }
        for name in [
            "PCI-MSI 3-edge nvme0q1",
            "PCI-MSIX-0000:00:02.0 1-edge virtio1-req.0",
            "PCI-MSIX-0000:00:05.0 1-edge virtio4-input",
            "IO-APIC 4-edge ttyS0",
        ] {
            assert!(!is_nic_queue(name), "{name}");
        }
    }
}
