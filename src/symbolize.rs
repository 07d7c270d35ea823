//! Native stacks to functions (in progress).
