//! Pure parsers for the text formats of `/proc` and `/sys`: `None` means "not what the kernel
//! writes", and the caller reports that file as unknown. Nothing here panics on any input.

use std::collections::BTreeSet;

/// A set of CPU ids, as in `/sys/devices/system/cpu/online` (`0-3,8`).
pub type CpuSet = BTreeSet<u32>;

/// Highest CPU id accepted in a CPU list ([`cpu_list`]: `/sys` files, `isolcpus=`, and
/// `mqperf --cpus`). Linux's `NR_CPUS` tops out at 8192; anything above this is a corrupt file
/// or a typo, and refusing it bounds the set built from one range to `CPU_ID_MAX + 1` ids.
pub const CPU_ID_MAX: u32 = 65_535;

/// A soft resource limit from `/proc/self/limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Unlimited,
    Value(u64),
}

/// `major.minor` from `/proc/sys/kernel/osrelease` (`6.8.0-31-generic` → `(6, 8)`).
pub fn kernel_version(text: &str) -> Option<(u32, u32)> {
    let release = text.split_whitespace().next()?;
    let mut parts = release.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = leading_digits(parts.next()?)?.parse().ok()?;
    Some((major, minor))
}

fn leading_digits(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    (end > 0).then(|| &text[..end])
}

/// A file holding one unsigned integer (`/proc/sys/vm/swappiness`).
pub fn single_integer(text: &str) -> Option<u64> {
    let mut words = text.split_whitespace();
    let value = words.next()?.parse().ok()?;
    words.next().is_none().then_some(value)
}

/// The third of three integers, the maximum of `/proc/sys/net/ipv4/tcp_rmem` (`min default max`).
pub fn third_of_three(text: &str) -> Option<u64> {
    let values: Vec<u64> = text
        .split_whitespace()
        .map(|word| word.parse().ok())
        .collect::<Option<_>>()?;
    match values.as_slice() {
        [_, _, max] => Some(*max),
        _ => None,
    }
}

/// The selected word of a sysfs choice list: `always [madvise] never` → `madvise`. A file with
/// a single word and no brackets (a queue without schedulers prints `none`) selects that word.
pub fn selected_choice(text: &str) -> Option<&str> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if let [only] = words.as_slice() {
        if !only.contains(['[', ']']) {
            return Some(only);
        }
    }
    let mut selected = words
        .iter()
        .filter_map(|word| word.strip_prefix('[')?.strip_suffix(']'));
    let choice = selected.next()?;
    (selected.next().is_none() && !choice.is_empty()).then_some(choice)
}

/// The soft limit in `/proc/self/limits` on the line that starts with `name`
/// (`Max locked memory`, `Max open files`).
pub fn soft_limit(text: &str, name: &str) -> Option<Limit> {
    let line = text.lines().find(|line| line.starts_with(name))?;
    let soft = line[name.len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        Some(Limit::Unlimited)
    } else {
        soft.parse().ok().map(Limit::Value)
    }
}

/// A kernel CPU list: `0-3,8,10-11`; an empty list (a memory-only NUMA node) is the empty set.
/// Surrounding whitespace is ignored; empty parts (`0,,1`), reversed ranges (`3-1`) and ids
/// above [`CPU_ID_MAX`] are refused, each before its range is added, so no input makes the
/// set hold more than `CPU_ID_MAX + 1` ids (`0-99999999999` fails at once, allocating nothing).
/// The workspace's one CPU-list parser: `mqperf --cpus` uses it too.
pub fn cpu_list(text: &str) -> Option<CpuSet> {
    let text = text.trim();
    let mut cpus = CpuSet::new();
    if text.is_empty() {
        return Some(cpus);
    }
    for part in text.split(',') {
        let (first, last): (u32, u32) = match part.split_once('-') {
            Some((first, last)) => (first.parse().ok()?, last.parse().ok()?),
            None => {
                let cpu = part.parse().ok()?;
                (cpu, cpu)
            }
        };
        if first > last || last > CPU_ID_MAX {
            return None;
        }
        cpus.extend(first..=last);
    }
    Some(cpus)
}

/// A CPU set written back as a kernel CPU list (`0-3,8`), `none` when empty.
pub fn format_cpu_list(cpus: &CpuSet) -> String {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for &cpu in cpus {
        match ranges.last_mut() {
            Some((_, last)) if cpu == *last + 1 => *last = cpu,
            _ => ranges.push((cpu, cpu)),
        }
    }
    if ranges.is_empty() {
        return "none".to_string();
    }
    ranges
        .iter()
        .map(|&(first, last)| {
            if first == last {
                first.to_string()
            } else {
                format!("{first}-{last}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The value of `key=` on the kernel command line (`/proc/cmdline`); the last one wins, as in
/// the kernel, and words after `--` belong to init and are ignored.
pub fn cmdline_value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_whitespace()
        .take_while(|word| *word != "--")
        .filter_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .last()
}

/// The CPUs of an `isolcpus=` value, which may start with flags: `managed_irq,domain,2-15`.
pub fn isolcpus_cpus(value: &str) -> Option<CpuSet> {
    let list: Vec<&str> = value
        .split(',')
        .filter(|part| !part.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
        .collect();
    cpu_list(&list.join(","))
}

/// The value after `Key:` in `/proc/self/status` (`CapEff`, `Uid`, `Cpus_allowed_list`).
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == key).then(|| value.trim())
    })
}

/// Whether a capability mask in hex (`CapEff`) holds bit `capability`.
pub fn has_capability(mask_hex: &str, capability: u32) -> Option<bool> {
    let mask = u64::from_str_radix(mask_hex.trim(), 16).ok()?;
    Some(capability < 64 && mask & (1 << capability) != 0)
}

/// One line of `/proc/interrupts`: its description and how many times it fired on each CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterruptLine {
    pub description: String,
    pub counts_by_cpu: Vec<(u32, u64)>,
}

/// `/proc/interrupts`: a `CPU0 CPU1 ...` header (offline CPUs are left out), then one line per
/// interrupt. Lines with no per-CPU counts (`ERR:`, `MIS:`) are kept with what they have.
pub fn interrupts(text: &str) -> Option<Vec<InterruptLine>> {
    let mut lines = text.lines();
    let cpus: Vec<u32> = lines
        .next()?
        .split_whitespace()
        .map(|word| word.strip_prefix("CPU")?.parse().ok())
        .collect::<Option<_>>()?;
    if cpus.is_empty() {
        return None;
    }
    let mut parsed = Vec::new();
    for line in lines {
        let mut words = line.split_whitespace().peekable();
        let Some(label) = words.next() else { continue };
        if !label.ends_with(':') {
            return None;
        }
        let mut counts_by_cpu = Vec::new();
        for &cpu in &cpus {
            match words.peek().and_then(|word| word.parse::<u64>().ok()) {
                Some(count) => {
                    counts_by_cpu.push((cpu, count));
                    words.next();
                }
                None => break,
            }
        }
        let description = words.collect::<Vec<_>>().join(" ");
        parsed.push(InterruptLine {
            description,
            counts_by_cpu,
        });
    }
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus(list: &[u32]) -> CpuSet {
        list.iter().copied().collect()
    }

    #[test]
    fn kernel_version_reads_major_and_minor_of_distribution_releases() {
        let table: &[(&str, Option<(u32, u32)>)] = &[
            ("6.8.0-31-generic\n", Some((6, 8))),
            ("5.4.0-216-generic", Some((5, 4))),
            ("5.14.0-427.13.1.el9_4.x86_64", Some((5, 14))),
            ("6.10rc1", Some((6, 10))),
            ("6", None),
            ("", None),
            ("linux", None),
            ("6.x", None),
            ("99999999999.1", None),
        ];
        for (text, expected) in table {
            assert_eq!(kernel_version(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn single_integer_refuses_extra_words_and_signs() {
        assert_eq!(single_integer("60\n"), Some(60));
        assert_eq!(single_integer("60 61"), None);
        assert_eq!(single_integer("-1"), None);
        assert_eq!(single_integer(""), None);
    }

    #[test]
    fn third_of_three_needs_exactly_three_integers() {
        assert_eq!(third_of_three("4096\t131072\t6291456\n"), Some(6_291_456));
        assert_eq!(third_of_three("4096 131072"), None);
        assert_eq!(third_of_three("4096 131072 x"), None);
    }

    #[test]
    fn selected_choice_finds_the_bracketed_word() {
        let table: &[(&str, Option<&str>)] = &[
            ("always [madvise] never\n", Some("madvise")),
            ("[none] mq-deadline kyber", Some("none")),
            ("none\n", Some("none")),
            ("always madvise never", None),
            ("[a] [b]", None),
            ("[]", None),
            ("", None),
        ];
        for (text, expected) in table {
            assert_eq!(selected_choice(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn soft_limit_reads_the_soft_column() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n\
                      Max locked memory         unlimited            unlimited            bytes\n";
        assert_eq!(
            soft_limit(limits, "Max open files"),
            Some(Limit::Value(1024))
        );
        assert_eq!(
            soft_limit(limits, "Max locked memory"),
            Some(Limit::Unlimited)
        );
        assert_eq!(soft_limit(limits, "Max stack size"), None);
        assert_eq!(soft_limit("Max open files   lots", "Max open files"), None);
    }

    #[test]
    fn cpu_list_reads_ranges_and_refuses_nonsense() {
        assert_eq!(cpu_list("0-3,8\n"), Some(cpus(&[0, 1, 2, 3, 8])));
        assert_eq!(cpu_list("\n"), Some(CpuSet::new()));
        assert_eq!(cpu_list("3-1"), None);
        assert_eq!(cpu_list("0-4294967295"), None);
        assert_eq!(cpu_list("0-99999999999"), None);
        let top = CPU_ID_MAX.to_string();
        assert_eq!(cpu_list(&top), Some(cpus(&[CPU_ID_MAX])));
        assert_eq!(cpu_list(&(CPU_ID_MAX + 1).to_string()), None);
        assert_eq!(cpu_list(&format!("0-{}", CPU_ID_MAX + 1)), None);
        assert_eq!(cpu_list("0,,1"), None);
        assert_eq!(cpu_list("a-b"), None);
    }

    #[test]
    fn format_cpu_list_joins_runs_into_ranges() {
        assert_eq!(
            format_cpu_list(&cpus(&[0, 1, 2, 3, 8, 10, 11])),
            "0-3,8,10-11"
        );
        assert_eq!(format_cpu_list(&CpuSet::new()), "none");
    }

    #[test]
    fn cmdline_value_takes_the_last_kernel_value_and_ignores_init_arguments() {
        let cmdline = "ro isolcpus=1 quiet isolcpus=2-7 -- nohz_full=3";
        assert_eq!(cmdline_value(cmdline, "isolcpus"), Some("2-7"));
        assert_eq!(cmdline_value(cmdline, "nohz_full"), None);
        assert_eq!(cmdline_value("isolcpus_extra=1", "isolcpus"), None);
    }

    #[test]
    fn isolcpus_cpus_skips_flags() {
        assert_eq!(
            isolcpus_cpus("managed_irq,domain,2-3,6"),
            Some(cpus(&[2, 3, 6]))
        );
        assert_eq!(isolcpus_cpus("4-5"), Some(cpus(&[4, 5])));
        assert_eq!(isolcpus_cpus("domain,x-1"), None);
    }

    #[test]
    fn status_field_and_capability_bits() {
        let status = "Name:\tmqtune\nUid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000004000\n";
        assert_eq!(status_field(status, "Uid"), Some("1000\t1000\t1000\t1000"));
        assert_eq!(
            has_capability(status_field(status, "CapEff").unwrap(), 14),
            Some(true)
        );
        assert_eq!(has_capability("0000000000000000", 14), Some(false));
        assert_eq!(has_capability("zz", 14), None);
    }

    #[test]
    fn interrupts_maps_counts_to_the_cpu_ids_in_the_header() {
        let text = "           CPU0       CPU2\n\
                    \x20 34:        39          7  PCI-MSIX-0000:00:05.0   1-edge      eth0-TxRx-0\n\
                    ERR:          0\n";
        let lines = interrupts(text).unwrap();
        assert_eq!(lines[0].counts_by_cpu, vec![(0, 39), (2, 7)]);
        assert_eq!(
            lines[0].description,
            "PCI-MSIX-0000:00:05.0 1-edge eth0-TxRx-0"
        );
        assert_eq!(lines[1].counts_by_cpu, vec![(0, 0)]);
        assert_eq!(interrupts("garbage\n"), None);
        assert_eq!(interrupts("CPU0\nno colon here\n"), None);
    }
}
