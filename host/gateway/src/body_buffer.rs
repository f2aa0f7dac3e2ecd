//! Reading a body into memory up to a cap, for plugins that read or replace bodies.

use crate::body::{self, Body, BoxError};
use bytes::{Bytes, BytesMut};
use http_body::{Body as _, Frame};
use http_body_util::BodyExt;

/// A body read up to a cap.
pub enum Buffered {
    /// The whole body, at most the cap.
    Whole(Bytes),
    /// The body is larger than the cap (or failed): the part read so far followed by the rest,
    /// still streaming, so nothing is lost.
    TooLarge(Body),
}

/// Reads `body` whole if it is at most `cap` bytes; otherwise gives it back intact.
pub async fn read_up_to(mut body: Body, cap: usize) -> Buffered {
    if body.size_hint().lower() > cap as u64 {
        return Buffered::TooLarge(body);
    }
    let mut buf = BytesMut::new();
    let mut trailers = None;
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    buf.extend_from_slice(&data);
                    if buf.len() > cap {
                        return Buffered::TooLarge(prepend(buf.freeze(), body, None));
                    }
                }
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        trailers = Some(t);
                    }
                }
            },
            Some(Err(e)) => return Buffered::TooLarge(failed(buf.freeze(), e)),
        }
    }
    match trailers {
        // Trailers cannot be kept in a plain buffer: hand the body back whole instead.
        Some(t) => Buffered::TooLarge(prepend(buf.freeze(), body::empty(), Some(t))),
        None => Buffered::Whole(buf.freeze()),
    }
}

fn prepend(head: Bytes, rest: Body, trailers: Option<http::HeaderMap>) -> Body {
    let head = futures_util::stream::iter([Ok::<_, BoxError>(Frame::data(head))]);
    let rest = http_body_util::BodyStream::new(rest);
    let tail = futures_util::stream::iter(trailers.map(|t| Ok(Frame::trailers(t))));
    let stream = futures_util::StreamExt::chain(futures_util::StreamExt::chain(head, rest), tail);
    Body::new(http_body_util::StreamBody::new(stream))
}

fn failed(head: Bytes, e: BoxError) -> Body {
    let frames = futures_util::stream::iter([Ok(Frame::data(head)), Err(e)]);
    Body::new(http_body_util::StreamBody::new(frames))
}
