//! `poll_server PORT`: the lesson's echo server on poll(2), as the course ran it before epoll.
#![forbid(unsafe_code)]

fn main() {
    readyloop::serve::lesson_main(
        "poll_server",
        "RFC 862 echo server on poll(2)",
        reactor::Backend::Poll,
    );
}
