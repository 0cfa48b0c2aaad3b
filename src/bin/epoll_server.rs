//! `epoll_server PORT`: the lesson's echo server on epoll (level-triggered), as the course runs it.
#![forbid(unsafe_code)]

fn main() {
    readyloop::serve::lesson_main(
        "epoll_server",
        "RFC 862 echo server on epoll (level-triggered)",
        reactor::Backend::EpollLevel,
    );
}
