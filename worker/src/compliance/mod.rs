//! Rules every outbound send obeys, checked in the send job itself (not
//! only when it was scheduled): quiet hours in the studio's timezone, and
//! safe template rendering.

pub mod local_time;
pub mod quiet_hours;
pub mod template;
