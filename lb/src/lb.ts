// The composition root: the controller (with its data plane) and the data-plane instance, each
// built in composition/ from one dependencies object.
export { createLoadBalancer, emptyRouter, type LoadBalancer, type WorkerPlanes } from './composition/controller.js';
export { createDataPlaneInstance, type DataPlaneInstance } from './composition/data-plane-instance.js';
