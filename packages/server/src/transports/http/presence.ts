import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { MAX_DEVICE_LENGTH, presenceMetaFits, type Json } from '@inloop/protocol';
import type { Access } from '../../auth/access.js';
import type { Principal } from '../../auth/principal.js';
import type { Presence } from '../../domain/presence.js';
import type { RateLimits } from '../../domain/rate-limits.js';
import type { Authenticator } from './authenticate.js';
import { HttpProblem } from './problems.js';
import { documented, problems, TopicParams } from './schemas.js';

interface Deps {
  presence: Presence;
  auth: Authenticator;
  access: Access;
  limits: RateLimits;
}

const Member = Type.Object({
  id: Type.String(),
  meta: Type.Unknown(),
  connections: Type.Integer(),
  devices: Type.Array(Type.String()),
  joinedAt: Type.Integer(),
});
const Occupancy = Type.Object({ members: Type.Integer(), connections: Type.Integer() });
const PresenceReply = Type.Object({
  topic: Type.String(),
  members: Type.Array(Member),
  occupancy: Occupancy,
  recent: Type.Array(Type.Object({ id: Type.String(), meta: Type.Unknown(), lastSeen: Type.Integer() }), {
    description: 'Members seen before and gone now, latest first (up to 50)',
  }),
});
const MemberParams = Type.Object({
  topic: TopicParams.properties.topic,
  member: Type.String({ pattern: '^[A-Za-z0-9_\\-.:@=+]{1,200}$' }),
});
const JoinBody = Type.Object({
  meta: Type.Optional(Type.Unknown({ description: 'At most 1 KiB of JSON' })),
  device: Type.Optional(Type.String({ maxLength: MAX_DEVICE_LENGTH })),
  ttlMs: Type.Optional(
    Type.Integer({
      minimum: 1000,
      maximum: 600_000,
      description: 'Presence lasts this long unless renewed by another PUT (default: the node presence TTL)',
    }),
  ),
});

/** The connection id of a member present over HTTP (a bot or backend), one per member. */
const httpConnection = (member: string): string => `http:${member}`;

async function checkMember(access: Access, principal: Principal, topic: string, member: string): Promise<void> {
  if (principal.kind === 'token' && principal.sub !== member) throw new HttpProblem('member_mismatch');
  const refusal = await access.check(principal, 'presence', topic);
  if (refusal) throw new HttpProblem(refusal);
}

/**
 * `GET /v1/topics/{topic}/presence` (who is here), and for bots and backends, `PUT` / `DELETE`
 * of `/v1/topics/{topic}/presence/{member}`: be present (renew within the TTL) and leave.
 */
export function presenceRoutes(app: FastifyInstance, { presence, auth, access, limits }: Deps): void {
  app.get<{ Params: Static<typeof TopicParams> }>(
    '/v1/topics/:topic/presence',
    {
      schema: documented({
        summary: 'Current members and occupancy of a topic',
        params: TopicParams,
        response: { 200: PresenceReply, ...problems },
      }),
    },
    async (request) => {
      const principal = await auth.principal(request);
      const { topic } = request.params;
      const refusal = await access.check(principal, 'presence', topic);
      if (refusal) throw new HttpProblem(refusal);
      const state = await presence.snapshot(topic);
      const here = new Set(state.members.map((m) => m.id));
      const recent = (await presence.lastSeen(topic)).filter((m) => !here.has(m.id));
      return { topic, members: state.members, occupancy: state.occupancy, recent };
    },
  );

  app.put<{ Params: Static<typeof MemberParams>; Body: Static<typeof JoinBody> }>(
    '/v1/topics/:topic/presence/:member',
    {
      schema: documented({
        summary: 'Be present on a topic (bots, backends)',
        description:
          "Joins (or renews) the member with one HTTP connection that lasts `ttlMs`; repeat within it to stay. A token may only put its own subject. Each call counts against the caller's presence rate limit; a member may be present on at most `maxPresenceTopicsPerMember` topics (`too_many_subscriptions`).",
        params: MemberParams,
        body: JoinBody,
        response: {
          200: Type.Object({ topic: Type.String(), members: Type.Array(Member), occupancy: Occupancy }),
          ...problems,
        },
      }),
    },
    async (request) => {
      const principal = await auth.principal(request);
      limits.admit(principal, 'presence');
      const { topic, member } = request.params;
      await checkMember(access, principal, topic, member);
      const { meta, device } = request.body ?? {};
      if (!presenceMetaFits(meta)) throw new HttpProblem('meta_too_large');
      // Presence put with a token lasts no longer than the token: it would speak for the member
      // after the right to do so ended.
      const ttlMs =
        principal.kind === 'token'
          ? Math.max(1, Math.min(request.body?.ttlMs ?? presence.ttlMs, principal.expiresAt - Date.now()))
          : request.body?.ttlMs;
      const state = presence.join(topic, member, httpConnection(member), {
        ...(meta === undefined ? {} : { meta: meta as Json }),
        ...(device === undefined ? {} : { device }),
        ...(ttlMs === undefined ? {} : { ttlMs }),
      });
      const merged = await presence.snapshot(topic).catch(() => state);
      return { topic, members: merged.members, occupancy: merged.occupancy };
    },
  );

  app.delete<{ Params: Static<typeof MemberParams> }>(
    '/v1/topics/:topic/presence/:member',
    {
      schema: documented({
        summary: 'Leave a topic (bots, backends)',
        params: MemberParams,
        response: { 204: Type.Null(), ...problems },
      }),
    },
    async (request, reply) => {
      const principal = await auth.principal(request);
      const { topic, member } = request.params;
      await checkMember(access, principal, topic, member);
      presence.leave(topic, httpConnection(member));
      return reply.code(204).send();
    },
  );
}
