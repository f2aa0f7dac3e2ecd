//! Mirroring: the main service answers, copies go to mirrors that can never slow or fail it.

use super::ServiceRt;
use crate::body::{self, Body, BoxError};
use crate::context::RequestCtx;
use crate::error::ProxyError;
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Frames buffered per mirror before it is given up as too slow.
const MIRROR_BUFFER_FRAMES: usize = 64;

/// One mirror target and its share of traffic.
#[derive(Debug)]
pub struct Mirror {
    /// The service that receives copies.
    pub service: Arc<ServiceRt>,
    /// Percentage of requests copied (0 to 100).
    pub percent: u32,
    counter: AtomicU64,
}

impl Mirror {
    /// A mirror receiving `percent`% of requests.
    pub fn new(service: Arc<ServiceRt>, percent: u32) -> Self {
        Mirror {
            service,
            percent: percent.min(100),
            counter: AtomicU64::new(0),
        }
    }

    /// Whether this request is copied: exactly `percent` of every 100 requests, spread evenly.
    fn fires(&self) -> bool {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let p = u64::from(self.percent);
        (n + 1) * p / 100 != n * p / 100
    }
}

/// A mirroring service.
#[derive(Debug)]
pub struct Mirroring {
    /// The service name.
    pub name: Arc<str>,
    /// The service whose response the client gets.
    pub main: Arc<ServiceRt>,
    /// The mirrors.
    pub mirrors: Vec<Mirror>,
    /// Whether mirrors get the request body.
    pub mirror_body: bool,
    /// Largest body copied to mirrors; `None` for no limit.
    pub max_body_size: Option<u64>,
}

impl Mirroring {
    /// Sends copies to the mirrors whose turn it is, then the request to the main service.
    pub async fn call(
        &self,
        req: Request<Body>,
        ctx: &mut RequestCtx,
    ) -> Result<Response<Body>, ProxyError> {
        let firing: Vec<&Mirror> = self.mirrors.iter().filter(|m| m.fires()).collect();
        if firing.is_empty() {
            return self.main.call_boxed(req, ctx).await;
        }
        let (parts, main_body) = req.into_parts();
        let mut senders = Vec::new();
        for mirror in firing {
            let mut copy = Request::new(body::empty());
            *copy.method_mut() = parts.method.clone();
            *copy.uri_mut() = parts.uri.clone();
            *copy.version_mut() = parts.version;
            *copy.headers_mut() = parts.headers.clone();
            if self.mirror_body {
                let (tx, rx) = mpsc::channel(MIRROR_BUFFER_FRAMES);
                let aborted = Arc::new(AtomicBool::new(false));
                senders.push((tx, aborted.clone()));
                *copy.body_mut() = Body::new(ChannelBody { rx, aborted });
            }
            let service = mirror.service.clone();
            let mut mctx = ctx.clone();
            let mirror_name = self.name.clone();
            tokio::spawn(async move {
                if let Err(e) = service.call_boxed(copy, &mut mctx).await {
                    tracing::debug!(service = %mirror_name, mirror = %service.name(), error = %e, "mirror request failed");
                }
            });
        }
        let main_body = if senders.is_empty() {
            main_body
        } else {
            Body::new(TeeBody {
                inner: main_body,
                senders,
                seen: 0,
                max: self.max_body_size,
            })
        };
        self.main
            .call_boxed(Request::from_parts(parts, main_body), ctx)
            .await
    }
}

/// The main request body, copying each data frame to the mirrors without ever waiting for them.
struct TeeBody {
    inner: Body,
    senders: Vec<(mpsc::Sender<Bytes>, Arc<AtomicBool>)>,
    seen: u64,
    max: Option<u64>,
}

impl http_body::Body for TeeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen += data.len() as u64;
                    let too_big = this.max.is_some_and(|m| this.seen > m);
                    this.senders.retain(|(tx, aborted)| {
                        if too_big || tx.try_send(data.clone()).is_err() {
                            aborted.store(true, Ordering::Release);
                            return false;
                        }
                        true
                    });
                }
            }
            Poll::Ready(Some(Err(_))) => {
                for (_, aborted) in this.senders.drain(..) {
                    aborted.store(true, Ordering::Release);
                }
            }
            Poll::Ready(None) => this.senders.clear(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A mirror's copy of the request body; fails instead of ending early if the copy was given up.
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
    aborted: Arc<AtomicBool>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Poll::Ready(None) if self.aborted.load(Ordering::Acquire) => Poll::Ready(Some(Err(
                "mirror copy abandoned: body too large or mirror too slow".into(),
            ))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_exact_per_hundred() {
        for p in [0, 1, 10, 33, 50, 99, 100] {
            let m = Mirror::new(
                Arc::new(ServiceRt::Internal(super::super::Internal::Noop)),
                p,
            );
            let fired = (0..100).filter(|_| m.fires()).count();
            assert_eq!(fired, p as usize);
        }
    }
}
