//! `client-output-buffer-limit` per connection: a client is in the pubsub class while it has
//! subscriptions (Redis's `CLIENT_PUBSUB` flag) and in the normal class otherwise; the loop
//! enforces the class's hard and soft limits on what that connection is owed.

use readyloop_server::{ConnId, Ctx};

use crate::config::{Class, OutputLimits};
use crate::service::Core;

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
    ctx.limit_output(conn, limits.get(class).to_loop());
}

/// A new connection is a normal client; with Redis's default (no normal limit) nothing to do.
pub fn opened(core: &Core, ctx: &mut Ctx<'_>, conn: ConnId) {
    let l = &core.cfg.output_limits;
    if !l.normal.is_none() {
        apply(ctx, l, conn, Class::Normal);
    }
}
