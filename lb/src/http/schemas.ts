/** Body of `/add` and `/rm`: types only; the manager checks values against current state. */
export const membershipBody = {
  type: 'object',
  required: ['n'],
  additionalProperties: false,
  properties: {
    n: { type: 'integer' },
    hostnames: { type: 'array', maxItems: 1024, items: { type: 'string' } },
  },
} as const;

export interface MembershipBody {
  n: number;
  hostnames?: string[];
}

export const replicaList = {
  200: {
    type: 'object',
    properties: {
      message: {
        type: 'object',
        properties: { N: { type: 'integer' }, replicas: { type: 'array', items: { type: 'string' } } },
      },
      status: { type: 'string' },
    },
  },
} as const;
