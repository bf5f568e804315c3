//! The loop's side of `--metrics`: a connection to the metrics listener is a web request that never
//! becomes a chat (`HttpRequest::metrics`). Its request is read with the web face's bounds (8 KiB of
//! head, `--web-deadline-secs`), answered once with the page or an error status, and closed
//! gracefully. The page is rendered from the loop's counters and the gauges measured here, at the
//! moment of the scrape; `crate::metrics` writes it.
//!
//! What a scrape costs chat users: one walk of the connections (a few microseconds for thousands) and
//! a page of about 3 KiB, on a connection capped at `SCRAPES_MAX` at a time and kept out of
//! `--max-clients`, `--max-http` and `--max-per-ip`.

use super::Server;
use crate::connection::{Connection, Transport};
use crate::metrics::{self, Carried, ClusterGauges, Gauges, Request};

impl Server {
    /// Bytes of a request to the metrics listener, collected until its head is complete.
    pub(super) fn scrape_received(&mut self, key: usize, bytes: &[u8]) {
        let Transport::Http(request) = &mut self.connections[key].transport else {
            return;
        };
        request.head.extend_from_slice(bytes);
        let response = match metrics::request(&request.head) {
            Request::Incomplete => return,
            Request::Respond(response) => response,
            Request::Scrape { head_only } => {
                let page = metrics::render(&self.metrics, &self.gauges());
                metrics::response(&page, head_only)
            }
        };
        self.connections[key].output.push(&response);
        self.begin_close(key);
    }

    /// What is measured rather than counted: connections by transport, users, rooms, the cluster.
    /// Walking the slab on a scrape, every few seconds, costs less than keeping per-transport counts
    /// right through every upgrade and close, and cannot drift.
    fn gauges(&self) -> Gauges {
        let mut connections = [0; metrics::TRANSPORTS.len()];
        for (_, conn) in &self.connections {
            if !conn.is_open() {
                continue;
            }
            if let Some(carried) = carried(conn) {
                connections[carried as usize] += 1;
            }
        }
        Gauges {
            connections,
            users: self.chat.local_users() as u64,
            rooms: self.chat.room_count() as u64,
            cluster: self.cluster.as_ref().map(|cluster| ClusterGauges {
                up: cluster.is_up(),
                redis_commands: cluster.commands_sent(),
            }),
        }
    }
}

/// How connection `conn` is carried (the `transport` label); `None` for a metrics scrape, which is
/// not counted among the connections it reports.
pub(super) fn carried(conn: &Connection) -> Option<Carried> {
    let tls = conn.tls.is_some();
    Some(match &conn.transport {
        Transport::Http(request) if request.metrics => return None,
        Transport::Tcp(_) if tls => Carried::Tls,
        Transport::Tcp(_) => Carried::Tcp,
        Transport::Http(_) if tls => Carried::Https,
        Transport::Http(_) => Carried::Http,
        Transport::WebSocket(_) if tls => Carried::Wss,
        Transport::WebSocket(_) => Carried::Ws,
        Transport::Irc(_) if tls => Carried::Ircs,
        Transport::Irc(_) => Carried::Irc,
    })
}
