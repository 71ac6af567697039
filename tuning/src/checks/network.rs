//! Network sysctls: the accept queue and the socket-buffer ceilings.

use super::AtLeast;
use crate::host::Host;
use crate::item::Item;
use crate::parse;
use crate::thresholds::{SOCKET_BUFFER_MAX_MIN_BYTES, SOMAXCONN_MIN};

/// `somaxconn`, then the four buffer ceilings.
pub fn all(host: &Host) -> Vec<Item> {
    let persist = "(persist: /etc/sysctl.d/99-shardmq.conf)";
    let buffer_min = SOCKET_BUFFER_MAX_MIN_BYTES;
    let buffer_reason = "one connection needs a large window to fill a fast link across a \
                         data centre";
    let autotuned_reason = "the ceiling TCP autotuning grows a connection's buffer to";
    [
        AtLeast {
            name: "somaxconn",
            file: "proc/sys/net/core/somaxconn",
            min: SOMAXCONN_MIN,
            in_bytes: false,
            parse: parse::single_integer,
            reason: "the accept queue absorbs thousands of clients reconnecting after a restart",
            fix: format!("sysctl -w net.core.somaxconn={SOMAXCONN_MIN} {persist}"),
        },
        AtLeast {
            name: "rmem_max_bytes",
            file: "proc/sys/net/core/rmem_max",
            min: buffer_min,
            in_bytes: true,
            parse: parse::single_integer,
            reason: buffer_reason,
            fix: format!("sysctl -w net.core.rmem_max={buffer_min} {persist}"),
        },
        AtLeast {
            name: "wmem_max_bytes",
            file: "proc/sys/net/core/wmem_max",
            min: buffer_min,
            in_bytes: true,
            parse: parse::single_integer,
            reason: buffer_reason,
            fix: format!("sysctl -w net.core.wmem_max={buffer_min} {persist}"),
        },
        AtLeast {
            name: "tcp_rmem_max_bytes",
            file: "proc/sys/net/ipv4/tcp_rmem",
            min: buffer_min,
            in_bytes: true,
            parse: parse::third_of_three,
            reason: autotuned_reason,
            fix: format!("sysctl -w net.ipv4.tcp_rmem='4096 131072 {buffer_min}' {persist}"),
        },
        AtLeast {
            name: "tcp_wmem_max_bytes",
            file: "proc/sys/net/ipv4/tcp_wmem",
            min: buffer_min,
            in_bytes: true,
            parse: parse::third_of_three,
            reason: autotuned_reason,
            fix: format!("sysctl -w net.ipv4.tcp_wmem='4096 16384 {buffer_min}' {persist}"),
        },
    ]
    .into_iter()
    .map(|check| check.check(host))
    .collect()
}
