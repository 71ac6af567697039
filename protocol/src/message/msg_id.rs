//! The offset msgId: uppercase hex of store IP, port (i32) and commit-log offset (i64) —
//! 32 digits for IPv4, 56 for IPv6. It is what a send response returns as `msgId`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use crate::error::{Error, Result};

/// Where a message is stored: the broker's store address and the commit-log offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageId {
    pub store_host: SocketAddr,
    pub commit_log_offset: i64,
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

impl MessageId {
    /// The raw bytes (16 for IPv4, 28 for IPv6) in `out`; returns how many were used.
    fn raw(&self, out: &mut [u8; 28]) -> usize {
        let ip_len = match self.store_host.ip() {
            IpAddr::V4(ip) => {
                out[..4].copy_from_slice(&ip.octets());
                4
            }
            IpAddr::V6(ip) => {
                out[..16].copy_from_slice(&ip.octets());
                16
            }
        };
        out[ip_len..ip_len + 4].copy_from_slice(&i32::from(self.store_host.port()).to_be_bytes());
        out[ip_len + 4..ip_len + 12].copy_from_slice(&self.commit_log_offset.to_be_bytes());
        ip_len + 12
    }

    /// Parses 32 (IPv4) or 56 (IPv6) hex digits, either case.
    pub fn parse(text: &str) -> Result<MessageId> {
        let what = "msgId";
        let digits = text.as_bytes();
        let ip_len = match digits.len() {
            32 => 4,
            56 => 16,
            n => {
                return Err(Error::corrupt(
                    what,
                    0,
                    format!("{n} characters; expected 32 (IPv4) or 56 (IPv6) hex digits"),
                ))
            }
        };
        let nibble = |at: usize| -> Result<u8> {
            let c = digits[at];
            (c as char).to_digit(16).map(|d| d as u8).ok_or_else(|| {
                Error::corrupt(
                    what,
                    at,
                    format!("`{}` is not a hex digit", (c as char).escape_debug()),
                )
            })
        };
        let mut raw = [0u8; 28];
        for (i, byte) in raw.iter_mut().take(digits.len() / 2).enumerate() {
            *byte = (nibble(2 * i)? << 4) | nibble(2 * i + 1)?;
        }
        let ip = if ip_len == 4 {
            IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
        } else {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&raw[..16]);
            IpAddr::V6(Ipv6Addr::from(octets))
        };
        let port = i32::from_be_bytes([
            raw[ip_len],
            raw[ip_len + 1],
            raw[ip_len + 2],
            raw[ip_len + 3],
        ]);
        let port = u16::try_from(port).map_err(|_| {
            Error::corrupt(what, ip_len * 2, format!("port {port} is out of range"))
        })?;
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&raw[ip_len + 4..ip_len + 12]);
        Ok(MessageId {
            store_host: SocketAddr::new(ip, port),
            commit_log_offset: i64::from_be_bytes(offset),
        })
    }
}

impl MessageId {
    /// Writes the hex form (32 digits for IPv4, 56 for IPv6) into `out` without allocating.
    pub fn write_hex<'a>(&self, out: &'a mut [u8; 56]) -> &'a str {
        let mut raw = [0u8; 28];
        let len = self.raw(&mut raw);
        for (i, b) in raw[..len].iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
        // Only ASCII hex digits were written.
        std::str::from_utf8(&out[..2 * len]).unwrap_or_default()
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = [0u8; 56];
        f.write_str(self.write_hex(&mut text))
    }
}

impl FromStr for MessageId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        MessageId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_msg_id_is_32_uppercase_hex_digits_of_ip_port_offset() {
        let id = MessageId {
            store_host: "127.0.0.1:10911".parse().unwrap(),
            commit_log_offset: 0x1234,
        };
        // 7F000001 | 00002A9F (10911) | 0000000000001234
        assert_eq!(id.to_string(), "7F00000100002A9F0000000000001234");
        assert_eq!(
            MessageId::parse("7f00000100002a9f0000000000001234").unwrap(),
            id
        );
    }

    #[test]
    fn ipv6_msg_id_is_56_digits() {
        let id = MessageId {
            store_host: "[::1]:8080".parse().unwrap(),
            commit_log_offset: -1,
        };
        let text = id.to_string();
        assert_eq!(text.len(), 56);
        assert_eq!(
            text,
            "0000000000000000000000000000000100001F90FFFFFFFFFFFFFFFF"
        );
        assert_eq!(text.parse::<MessageId>().unwrap(), id);
    }

    #[test]
    fn malformed_msg_ids_name_the_problem() {
        let cases = [
            ("ABC", "3 characters"),
            ("7F00000100002A9F000000000000123G", "`G` is not a hex digit"),
            (
                "7F000001FFFFFFFF0000000000001234",
                "port -1 is out of range",
            ),
        ];
        for (input, want) in cases {
            let err = MessageId::parse(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
    }
}
