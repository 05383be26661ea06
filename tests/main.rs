//! One integration test binary (links once). Each module: one area, real SQLite files in temp
//! dirs, real HTTP servers on 127.0.0.1, job binaries run as processes.

mod common;
// The database, decision log, job runner and CLI (issue: foundation).
mod foundation;
// systemd units, crontab and operator queries (issue: running it for real).
mod deploy;
// polyperf-settle against local Gamma and Binance servers (issue: settlement).
mod settle;
// Reflection: triggers, the LLM / rules analysis, stored insights and proposals (issue 5).
mod reflect;
