//! `NativeNeighbourWatcher`: the runtime's neighbour and route watcher, its events delivered to
//! a JavaScript callback.

use std::net::IpAddr;

use fastlane_runtime::neighbours::{Neighbour, NeighbourWatcher, RouteTo, WatchEvent};
use napi::bindgen_prelude::Function;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;

use crate::error::{self, BindingError};

/// One neighbour-table entry.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct NeighbourEntry {
    /// Interface index in the watched namespace.
    pub index: u32,
    pub address: String,
    /// `aa:bb:cc:dd:ee:ff`, when the entry has a link-layer address.
    pub mac: Option<String>,
    /// The kernel's `NUD_*` state bits.
    pub state: u32,
    /// The MAC is one the kernel itself would send to (reachable, stale, delay, probe,
    /// permanent).
    pub usable: bool,
}

/// What the watcher reports: `snapshot` (the whole table, replacing what was known),
/// `neighbour` (one entry added, changed or `removed`), `routes` (a route changed: look up
/// again), `failed` (watching stopped; `message` says why).
#[napi(object)]
#[derive(Debug, Clone)]
pub struct NeighbourEvent {
    #[napi(ts_type = "'snapshot' | 'neighbour' | 'routes' | 'failed'")]
    pub kind: String,
    pub neighbours: Vec<NeighbourEntry>,
    pub removed: bool,
    pub message: Option<String>,
}

/// The kernel's route to a destination.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct RouteInfo {
    pub destination: String,
    /// Outgoing interface index.
    pub index: u32,
    pub gateway: Option<String>,
    pub source: Option<String>,
    /// The gateway, or the destination itself when it is on the link.
    pub next_hop: String,
}

fn format_mac(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

fn entry(neighbour: &Neighbour) -> NeighbourEntry {
    NeighbourEntry {
        index: neighbour.index,
        address: neighbour.address.to_string(),
        mac: neighbour.mac.map(format_mac),
        state: u32::from(neighbour.state),
        usable: neighbour.usable_mac().is_some(),
    }
}

fn event(event: WatchEvent) -> NeighbourEvent {
    let plain = |kind: &str| NeighbourEvent {
        kind: kind.into(),
        neighbours: Vec::new(),
        removed: false,
        message: None,
    };
    match event {
        WatchEvent::Snapshot(table) => NeighbourEvent {
            neighbours: table.iter().map(entry).collect(),
            ..plain("snapshot")
        },
        WatchEvent::Neighbour { removed, neighbour } => NeighbourEvent {
            neighbours: vec![entry(&neighbour)],
            removed,
            ..plain("neighbour")
        },
        WatchEvent::RoutesChanged => plain("routes"),
        WatchEvent::Failed(message) => NeighbourEvent {
            message: Some(message),
            ..plain("failed")
        },
    }
}

fn route_info(route: RouteTo) -> RouteInfo {
    RouteInfo {
        destination: route.destination.to_string(),
        index: route.index,
        gateway: route.gateway.map(|g| g.to_string()),
        source: route.source.map(|s| s.to_string()),
        next_hop: route.next_hop().to_string(),
    }
}

fn parse_ip(text: &str) -> error::Result<IpAddr> {
    text.parse()
        .map_err(|_| BindingError::InvalidArgument(format!("not an IP address: {text:?}")).into())
}

#[napi]
#[derive(Debug)]
pub struct NativeNeighbourWatcher {
    inner: Option<NeighbourWatcher>,
}

impl NativeNeighbourWatcher {
    fn watcher(&self) -> error::Result<&NeighbourWatcher> {
        self.inner
            .as_ref()
            .ok_or_else(|| BindingError::Closed("neighbour watcher").into())
    }
}

#[napi]
impl NativeNeighbourWatcher {
    /// Starts watching the neighbour and route tables of network namespace `netns` (a name under
    /// /run/netns or a path; none: this process's). `onEvent` gets the table's snapshot first.
    #[napi(factory)]
    pub fn start(
        netns: Option<String>,
        on_event: Function<NeighbourEvent, ()>,
    ) -> error::Result<NativeNeighbourWatcher> {
        // Not weak: like a listening socket, a running watcher keeps the process alive (its
        // events are what the process waits for); stop() ends the thread, which releases it.
        let tsfn = on_event
            .build_threadsafe_function::<NeighbourEvent>()
            .build()
            .map_err(error::napi_failure)?;
        let watcher = NeighbourWatcher::start(netns.as_deref(), move |e| {
            // A failed call means JavaScript is shutting down: nobody is left to tell.
            let _ = tsfn.call(event(e), ThreadsafeFunctionCallMode::NonBlocking);
        })
        .map_err(|e| BindingError::Netlink(e.to_string()))?;
        Ok(NativeNeighbourWatcher {
            inner: Some(watcher),
        })
    }

    /// The route the kernel of the watched namespace would take to `destination`.
    #[napi]
    pub fn route(&self, destination: String) -> error::Result<RouteInfo> {
        let destination = parse_ip(&destination)?;
        let route = self
            .watcher()?
            .route(destination)
            .map_err(|e| BindingError::Netlink(e.to_string()))?;
        Ok(route_info(route))
    }

    /// The main table's default routes (IPv4 and IPv6; `destination` is the unspecified
    /// address).
    #[napi]
    pub fn default_routes(&self) -> error::Result<Vec<RouteInfo>> {
        let routes = self
            .watcher()?
            .default_routes()
            .map_err(|e| BindingError::Netlink(e.to_string()))?;
        Ok(routes.into_iter().map(route_info).collect())
    }

    /// Sets the default route of `gateway`'s family to go through `gateway` on interface
    /// `index`, replacing one that is there.
    #[napi]
    pub fn replace_default_route(&self, gateway: String, index: u32) -> error::Result<()> {
        let gateway = parse_ip(&gateway)?;
        self.watcher()?
            .replace_default_route(gateway, index)
            .map_err(|e| BindingError::Netlink(format!("default route via {gateway}: {e}")).into())
    }

    /// Asks the kernel to resolve `address` on interface `index`; the answer arrives as an
    /// event.
    #[napi]
    pub fn resolve(&self, index: u32, address: String) -> error::Result<()> {
        let address = parse_ip(&address)?;
        self.watcher()?
            .resolve(index, address)
            .map_err(|e| BindingError::Netlink(format!("resolving {address}: {e}")).into())
    }

    /// The index of interface `name` in the watched namespace.
    #[napi]
    pub fn interface_index(&self, name: String) -> error::Result<u32> {
        self.watcher()?
            .interface_index(&name)
            .map_err(|e| BindingError::Netlink(format!("interface {name}: {e}")).into())
    }

    /// The MAC address of interface `name` in the watched namespace.
    #[napi]
    pub fn hw_address(&self, name: String) -> error::Result<String> {
        self.watcher()?
            .hw_address(&name)
            .map(format_mac)
            .map_err(|e| BindingError::Netlink(format!("interface {name}: {e}")).into())
    }

    /// Stops watching; no event is delivered after this returns. Idempotent.
    #[napi]
    pub fn stop(&mut self) {
        if let Some(mut watcher) = self.inner.take() {
            watcher.stop();
        }
    }
}
