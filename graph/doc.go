// Package graph holds the compute-graph IR that model definitions build, the
// planner that turns a graph into an ordered plan with an activation-memory
// plan, and the executors that run plans. A model is described once, with
// the Builder; every executor runs the same graph.
//
// graph imports kernels (op references) and nothing model-specific.
package graph
