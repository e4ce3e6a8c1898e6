//! `outbound transform-runner`: the child process that compiles and runs
//! transformations for the service that started it.
//!
//! It reads requests from stdin and answers on stdout, one at a time
//! ([`super::wire`]), until stdin closes. Before the first request it limits
//! itself: its address space (a backstop for `TRANSFORM_MAX_MEMORY_MB`,
//! which the service enforces by reading the runner's resident memory),
//! no core dumps, no files written, and death with its parent (so a runner
//! stuck in a loop does not outlive a service that was killed). The service
//! starts it with an empty environment, and kills it at a run's deadline,
//! past its memory, or when it died: a stack overflow (`def f: 1 + f; f`)
//! or a failed allocation aborts the runner, and only it.
//!
//! Compiled programs are kept by their text (up to [`CACHED`]), so a
//! destination's programs are compiled once per runner, not per delivery.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::rc::Rc;

use super::jq::{self, Program, Ran, Unsendable};
use super::wire::{read_frame, write_frame, Answer, Part, Request};

/// Compiled programs kept; past this the cache starts over.
const CACHED: usize = 512;

/// The runner's command line (after `transform-runner`).
#[derive(clap::Args, Debug, Clone)]
pub struct RunnerArgs {
    /// The longest body, and the most bytes of headers, a program may give.
    #[arg(long, default_value = "1048576")]
    pub max_output_bytes: usize,
    /// The address space the runner may map past what it has at start, in
    /// MiB (a backstop: the service watches its resident memory).
    #[arg(long, default_value = "512")]
    pub max_memory_mb: u64,
}

/// Runs requests from stdin until it closes.
pub fn main(args: &RunnerArgs) -> ExitCode {
    if let Err(e) = limit_self(args.max_memory_mb) {
        eprintln!("outbound transform-runner: cannot limit itself: {e}");
        return ExitCode::FAILURE;
    }
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    let mut programs = Programs::default();
    loop {
        let frame = match read_frame(&mut input) {
            Ok(Some(frame)) => frame,
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("outbound transform-runner: {e}");
                return ExitCode::FAILURE;
            }
        };
        let request = match serde_json::from_slice::<Request>(&frame) {
            Ok(request) => request,
            Err(e) => {
                eprintln!("outbound transform-runner: a request that is not one: {e}");
                return ExitCode::FAILURE;
            }
        };
        let event = match request.run {
            false => None,
            true => match read_frame(&mut input) {
                Ok(Some(event)) => Some(event),
                _ => return ExitCode::FAILURE,
            },
        };
        let (answer, body) = programs.answer(&request, event.as_deref(), args.max_output_bytes);
        let text = serde_json::to_vec(&answer).unwrap_or_default();
        let written = write_frame(&mut output, &text)
            .and_then(|()| match &body {
                Some(body) => write_frame(&mut output, body.as_bytes()),
                None => Ok(()),
            })
            .and_then(|()| output.flush());
        if written.is_err() {
            return ExitCode::FAILURE;
        }
    }
}

/// The limits a runner sets on itself before it runs anything.
fn limit_self(max_memory_mb: u64) -> io::Result<()> {
    use rustix::process::{setrlimit, Resource, Rlimit};
    let limit = |resource, n: u64| {
        setrlimit(
            resource,
            Rlimit {
                current: Some(n),
                maximum: Some(n),
            },
        )
    };
    // The allocator has already reserved address space (mimalloc reserves
    // an arena of about 1 GiB, most of it never touched): the limit is on
    // what is mapped beyond that. It is a backstop; the service measures
    // the runner's resident memory during each run and stops it at
    // TRANSFORM_MAX_MEMORY_MB (`super::Inner::request`).
    let mapped = mapped_bytes().unwrap_or(0);
    limit(
        Resource::As,
        mapped.saturating_add(max_memory_mb.saturating_mul(1024 * 1024)),
    )?;
    limit(Resource::Core, 0)?;
    limit(Resource::Fsize, 0)?;
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    // The parent may have died before the line above: then this runner
    // was handed to init, and must not wait for a request.
    if rustix::process::getppid().is_none_or(|p| p.as_raw_nonzero().get() == 1) {
        return Err(io::Error::other("the service that started it is gone"));
    }
    Ok(())
}

/// The process's address space now, in bytes.
fn mapped_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().next()?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

/// Compiled programs by their text.
#[derive(Default)]
struct Programs {
    compiled: HashMap<String, Rc<Result<Program, String>>>,
}

impl Programs {
    fn get(&mut self, code: &str) -> Rc<Result<Program, String>> {
        if let Some(p) = self.compiled.get(code) {
            return p.clone();
        }
        if self.compiled.len() >= CACHED {
            self.compiled.clear();
        }
        let p = Rc::new(jq::compile(code));
        self.compiled.insert(code.to_string(), p.clone());
        p
    }

    /// The answer to `request`, and the body it gave, if any.
    fn answer(
        &mut self,
        request: &Request,
        event: Option<&[u8]>,
        max_output: usize,
    ) -> (Answer, Option<String>) {
        let mut body = None;
        let answer = self.run(request, event, max_output, &mut body);
        let body = body.filter(|_| matches!(answer, Answer::Ran { body: true, .. }));
        (answer, body)
    }

    fn run(
        &mut self,
        request: &Request,
        event: Option<&[u8]>,
        max_output: usize,
        body: &mut Option<String>,
    ) -> Answer {
        let parts = [
            (Part::Body, request.body.as_deref()),
            (Part::Headers, request.headers.as_deref()),
        ];
        let Some(input) = event else {
            let errors = parts
                .into_iter()
                .filter_map(|(part, code)| {
                    let err = self.get(code?).as_ref().as_ref().err()?.clone();
                    Some((part, err))
                })
                .collect();
            return Answer::Checked { errors };
        };
        let input = match jq::parse_input(input) {
            Ok(v) => v,
            Err(message) => {
                return Answer::Failed {
                    part: Part::Body,
                    message,
                }
            }
        };
        let mut headers = None;
        for (part, code) in parts {
            let Some(code) = code else { continue };
            let failed = |message: String| Answer::Failed { part, message };
            let program = self.get(code);
            let program = match program.as_ref() {
                Ok(p) => p,
                Err(e) => return failed(e.clone()),
            };
            let value = match jq::run(program, input.clone()) {
                Ran::One(v) => v,
                Ran::Outputs(0) => return failed("gave no output (it must give one)".into()),
                Ran::Outputs(_) => {
                    return failed("gave more than one output (it must give one)".into())
                }
                Ran::Error(e) => return failed(e),
            };
            match part {
                Part::Body => match jq::to_json(&value, max_output) {
                    Ok(text) => *body = Some(text),
                    Err(Unsendable::TooLong(max)) => {
                        return failed(format!("gave a body longer than {max} bytes"))
                    }
                    Err(Unsendable::Key(k)) => {
                        return failed(format!("gave an object key that is not a string: {k}"))
                    }
                },
                Part::Headers => match jq::to_headers(&value, max_output) {
                    Ok(h) => headers = Some(h),
                    Err(e) => return failed(format!("headers {e}")),
                },
            }
        }
        Answer::Ran {
            body: body.is_some(),
            headers,
        }
    }
}
