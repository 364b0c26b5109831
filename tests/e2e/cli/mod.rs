//! The `terapi` binary's one-shot commands.

mod commands;
