//! `client-output-buffer-limit` per connection: a client is in the pubsub class while it has
//! subscriptions (Redis's `CLIENT_PUBSUB` flag) and in the normal class otherwise; the loop
//! enforces the class's hard and soft limits on what that connection is owed.

use readyloop_server::{ConnId, Ctx};

use crate::config::{Class, OutputLimits};
use crate::server::Core;

// TEMPORARY until main has `Ctx::limit_output` (the lead is adding it to crates/server).
pub struct OutputLimit {
    pub hard: usize,
    pub soft: usize,
    pub soft_for: std::time::Duration,
}
fn set(_ctx: &mut Ctx<'_>, _id: ConnId, _l: Option<OutputLimit>) {}

/// The class a client with `subscriptions` channels and patterns is in.
pub fn class_of(subscriptions: usize) -> Class {
    if subscriptions > 0 {
        Class::PubSub
    } else {
        Class::Normal
    }
}

/// Give `conn` the limits of `class`.
pub fn apply(ctx: &mut Ctx<'_>, limits: &OutputLimits, conn: ConnId, class: Class) {
    set(ctx, conn, limits.get(class).to_loop());
}

/// A new connection is a normal client; with Redis's default (no normal limit) nothing to do.
pub fn opened(core: &Core, ctx: &mut Ctx<'_>, conn: ConnId) {
    let l = &core.cfg.output_limits;
    if !l.normal.is_none() {
        apply(ctx, l, conn, Class::Normal);
    }
}
