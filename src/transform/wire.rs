//! What the service and its transformation runner say to each other, over
//! the runner's stdin and stdout, in frames (a 4-byte big-endian length,
//! then that many bytes). A request is a [`Request`] frame (JSON), then,
//! when it runs the programs, a frame with the event (JSON text, as is).
//! An answer is an [`Answer`] frame (JSON), then, when it ran a body
//! program, a frame with the body (JSON text). The event and the body
//! travel as raw bytes: neither side parses or escapes them to wrap them.

use std::borrow::Cow;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// The largest frame either side reads: an event at the publish limit
/// (64 MiB at most) with room to spare. Anything longer is a broken peer.
pub const MAX_FRAME: usize = 160 * 1024 * 1024;

/// Which program of a transformation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Body,
    Headers,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Body => "body",
            Part::Headers => "headers",
        }
    }
}

/// Compile the programs, or (`run`) compile and run them on the event in
/// the next frame.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request<'a> {
    /// Borrowed unless the JSON string had escapes.
    #[serde(borrow)]
    pub body: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub headers: Option<Cow<'a, str>>,
    pub run: bool,
}

/// The runner's answer.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Compiled (no input given): each program's errors, if any.
    Checked { errors: Vec<(Part, String)> },
    /// Ran: the headers as given; with `body`, the body (JSON text) is
    /// the next frame.
    Ran {
        body: bool,
        headers: Option<Vec<(String, String)>>,
    },
    /// One of the programs failed.
    Failed { part: Part, message: String },
}

/// Writes one frame (the caller flushes).
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(payload)
}

/// Reads one frame; None at the end of the stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = frame_len(len)?;
    let mut payload = vec![0; len];
    r.read_exact(&mut payload)?;
    Ok(Some(payload))
}

/// A frame's length from its header, refused past [`MAX_FRAME`].
pub fn frame_len(header: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes"),
        ));
    }
    Ok(len)
}

/// Appends a frame of `payload` to `out`.
pub fn push_frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"{}").unwrap();
        let mut pushed = Vec::new();
        push_frame(&mut pushed, b"{}");
        assert_eq!(buf, pushed);
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r).unwrap(), Some(b"{}".to_vec()));
        assert_eq!(read_frame(&mut r).unwrap(), None);
        let answer = Answer::Failed {
            part: Part::Headers,
            message: "x".into(),
        };
        let text = serde_json::to_string(&answer).unwrap();
        assert_eq!(text, r#"{"failed":{"part":"headers","message":"x"}}"#);
        assert_eq!(serde_json::from_str::<Answer>(&text).unwrap(), answer);
    }
}
