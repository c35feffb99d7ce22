CREATE TABLE "auto_reload_settings" (
	"merchant_id" text PRIMARY KEY NOT NULL,
	"enabled" boolean NOT NULL,
	"mode" text NOT NULL,
	"threshold" bigint NOT NULL,
	"amount" bigint NOT NULL,
	"max_per_cycle" bigint NOT NULL,
	"status" text DEFAULT 'disabled' NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "decisions" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"outcome" text NOT NULL,
	"reason" text,
	"recharge_id" text,
	"amount" bigint,
	"balance" bigint NOT NULL,
	"threshold" bigint NOT NULL,
	"cycle_key" text NOT NULL,
	"cycle_total" bigint NOT NULL,
	"max_per_cycle" bigint NOT NULL,
	"status_after" text NOT NULL,
	"failure_code" text,
	"decline_code" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ledger_entries" (
	"merchant_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"kind" text NOT NULL,
	"amount" bigint NOT NULL,
	"balance_after" bigint NOT NULL,
	"external_id" text NOT NULL,
	"description" text,
	"recharge_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_entries_merchant_id_seq_pk" PRIMARY KEY("merchant_id","seq")
);
--> statement-breakpoint
CREATE TABLE "merchants" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"currency" text DEFAULT 'usd' NOT NULL,
	"billing_cycle_anchor" timestamp with time zone NOT NULL,
	"stripe_customer_id" text,
	"payment_method" jsonb,
	"api_key_hash" text,
	"balance" bigint DEFAULT 0 NOT NULL,
	"ledger_seq" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "merchants_balance_not_negative" CHECK ("merchants"."balance" >= 0),
	CONSTRAINT "merchants_currency_known" CHECK ("merchants"."currency" in ('usd', 'jpy'))
);
--> statement-breakpoint
CREATE TABLE "recharges" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"cycle_key" text NOT NULL,
	"attempt" integer NOT NULL,
	"amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"idempotency_key" text NOT NULL,
	"payment_intent_id" text,
	"failure_code" text,
	"decline_code" text,
	"failure_message" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "auto_reload_settings" ADD CONSTRAINT "auto_reload_settings_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "decisions" ADD CONSTRAINT "decisions_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "recharges" ADD CONSTRAINT "recharges_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "decisions_merchant_created_idx" ON "decisions" USING btree ("merchant_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_entries_external_idx" ON "ledger_entries" USING btree ("merchant_id","kind","external_id");--> statement-breakpoint
CREATE UNIQUE INDEX "merchants_api_key_hash_idx" ON "merchants" USING btree ("api_key_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "recharges_idempotency_key_idx" ON "recharges" USING btree ("idempotency_key");--> statement-breakpoint
CREATE UNIQUE INDEX "recharges_payment_intent_idx" ON "recharges" USING btree ("payment_intent_id");--> statement-breakpoint
CREATE INDEX "recharges_merchant_created_idx" ON "recharges" USING btree ("merchant_id","created_at");