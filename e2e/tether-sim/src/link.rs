//! A node's link to the cloud, as a loopback TCP relay a test can sever.
//!
//! Point a yurthub double's upstream at [`Link::addr`] instead of the API server, then
//! [`Link::cut`] takes the cloud away the way OpenYurt's e2e does with
//! `docker network disconnect`: the API server keeps running (its objects and leases stay
//! inspectable through its own handle) while nothing on the node reaches it. A cut closes
//! every relayed connection at once and closes each new one as soon as it is accepted, so
//! a round trip fails immediately (a network that drops packets would make it time out
//! instead; the answers are the same, only slower). [`Link::restore`] lets connections
//! through again.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

/// A running relay. Dropping it stops it.
pub struct Link {
    addr: SocketAddr,
    cut: Arc<watch::Sender<bool>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Link {
    /// Relay `127.0.0.1:<free port>` to `target`. Must be called within a Tokio runtime.
    pub async fn start(target: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let (cut, _) = watch::channel(false);
        let cut = Arc::new(cut);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(relay(listener, target, cut.clone(), stopped));
        Ok(Self {
            addr,
            cut,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Where to connect instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sever the link: close every relayed connection and every new one.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Let connections through again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }

    /// Whether the link is severed.
    pub fn is_cut(&self) -> bool {
        *self.cut.borrow()
    }

    /// Stop relaying and wait until every connection is closed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn relay(
    listener: TcpListener,
    target: SocketAddr,
    cut: Arc<watch::Sender<bool>>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((inbound, _)) = accepted else { continue };
                if *cut.borrow() {
                    drop(inbound);
                    continue;
                }
                conns.spawn(pipe(inbound, target, cut.subscribe()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

/// Copy both ways until either side closes or the link is cut.
async fn pipe(mut inbound: TcpStream, target: SocketAddr, mut cut: watch::Receiver<bool>) {
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = cut.wait_for(|severed| *severed) => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(s: &mut TcpStream) -> io::Result<usize> {
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        s.read(&mut buf).await
    }

    #[tokio::test]
    async fn a_cut_closes_open_and_new_connections_until_restored() {
        let link = Link::start(echo_server().await).await.unwrap();
        let mut open = TcpStream::connect(link.addr()).await.unwrap();
        assert_eq!(round_trip(&mut open).await.unwrap(), 4);

        link.cut();
        assert!(link.is_cut());
        assert!(matches!(round_trip(&mut open).await, Ok(0) | Err(_)));
        let mut fresh = TcpStream::connect(link.addr()).await.unwrap();
        assert!(matches!(round_trip(&mut fresh).await, Ok(0) | Err(_)));

        link.restore();
        let mut again = TcpStream::connect(link.addr()).await.unwrap();
        assert_eq!(round_trip(&mut again).await.unwrap(), 4);
        link.shutdown().await;
    }
}
