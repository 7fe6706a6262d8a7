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

/** Body of `/add`: `/rm`'s and an optional weight, checked by the manager (any JSON value gets its message). */
export const addBody = {
  ...membershipBody,
  properties: { ...membershipBody.properties, weight: {} },
} as const;

export interface AddBody extends MembershipBody {
  weight?: unknown;
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
