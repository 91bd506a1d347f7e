import { ledgerMethodNames, ledgerMethods } from "@maaskit/settlement/http";
import { z } from "zod";

const errorSchema = {
  type: "object",
  required: ["ok", "error"],
  properties: {
    ok: { const: false },
    error: {
      type: "object",
      required: ["code", "message", "details"],
      properties: {
        code: { type: "string", description: "The port's dotted error code" },
        message: { type: "string" },
        details: { type: "object" },
      },
    },
  },
};

const jsonSchema = (schema: z.ZodType) => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  return rest;
};

/**
 * The OpenAPI 3.1 document of the ledger service, generated from the protocol table (the
 * committed `openapi.json` is this, written by `pnpm --filter @maaskit/ledger-service openapi`).
 */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const name of ledgerMethodNames) {
    const spec = ledgerMethods[name];
    paths[`/v1/ledger/${name}`] = {
      post: {
        operationId: name,
        summary: spec.summary,
        tags: [spec.write ? "writes" : "reads"],
        ...(name === "getEvents"
          ? {
              parameters: [
                {
                  name: "wait",
                  in: "query",
                  description: "Long-poll: seconds to wait for an event at index `from` (≤ 25)",
                  schema: { type: "integer", minimum: 0 },
                },
              ],
            }
          : {}),
        requestBody: {
          required: true,
          content: { "application/json": { schema: jsonSchema(spec.params) } },
        },
        responses: {
          "200": {
            description: "The call's result",
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  required: ["ok", "result"],
                  properties: { ok: { const: true }, result: jsonSchema(spec.result) },
                },
              },
            },
          },
          default: {
            description:
              "A refusal (400 invalid, 403 unauthorized, 404 not found, 409 conflict, 422 other rule, 503 unavailable), 401 unknown token, 413 body too large, 429 rate limited",
            content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
          },
        },
      },
    };
  }
  const plain = (description: string) => ({
    get: { summary: description, security: [], responses: { "200": { description } } },
  });
  paths["/healthz"] = plain("Liveness: { ok, kind }");
  paths["/metrics"] = plain("Prometheus text format metrics");
  paths["/openapi.json"] = plain("This document");
  return {
    openapi: "3.1.0",
    info: {
      title: "maaskit ledger service",
      version: "1.0.0",
      description:
        "The maaskit LedgerBackend port over HTTP (protocol maaskit.ledger/1). See docs/ledger-service.md.",
    },
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: { Error: errorSchema },
    },
    paths,
  };
}
