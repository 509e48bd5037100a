// Lays out a workflow graph with dagre off the main thread, so a large run's page is
// usable while its graph is being placed. In: {nodes: [id], links: [[from, to]],
// width, height}. Out: {width, height, nodes: {id: {x, y}}, edges: [[x, y]...]}.
// The bundle (dagre with its graphlib and lodash) looks for a global named window.
self.window = self;
importScripts("/ui/vendor/dagre/dagre.min.js");

self.onmessage = (event) => {
  const { nodes, links, width, height } = event.data;
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 36, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const id of nodes) g.setNode(id, { width, height });
  for (const [a, b] of links) if (g.hasNode(a) && g.hasNode(b)) g.setEdge(a, b);
  dagre.layout(g);
  const placed = {};
  for (const id of g.nodes()) placed[id] = { x: g.node(id).x, y: g.node(id).y };
  const edges = g.edges().map((e) => (g.edge(e).points || []).map((p) => [p.x, p.y]));
  self.postMessage({ width: g.graph().width || 0, height: g.graph().height || 0, nodes: placed, edges });
};
