#!/usr/bin/env node
'use strict';
/**
 * Creates the database named in DATABASE_URL when it does not exist, by
 * connecting to the same server's maintenance database. Called by
 * scripts/ensure-services. Exit codes: 0 ready, 1 failure, 3 authentication
 * refused (ensure-services may then relax local pg_hba.conf and retry).
 */
const { Client } = require('pg');

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/xblmsg';
const EXIT_AUTH = 3;
// Server still starting (57P03) or not accepting yet: worth a few retries.
const RETRY_FOR_MS = 10_000;

function fail(message, code = 1) {
  console.error(`ensure-database: ${message}`);
  process.exit(code);
}

function isAuthError(err) {
  return (
    err.code === '28P01' ||
    (err.code === '28000' && /pg_hba\.conf/.test(err.message)) ||
    /password must be a string|password authentication failed/i.test(err.message)
  );
}

function isTransient(err) {
  return err.code === '57P03' || err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET';
}

async function connect(url, maintenanceDb) {
  const adminUrl = new URL(url.href);
  adminUrl.pathname = `/${maintenanceDb}`;
  const deadline = Date.now() + RETRY_FOR_MS;
  for (;;) {
    const client = new Client({ connectionString: adminUrl.href, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => {});
      if (!isTransient(err) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}

async function main() {
  let url;
  try {
    url = new URL(process.env.DATABASE_URL || DEFAULT_URL);
  } catch {
    fail('DATABASE_URL is not a valid URL');
  }
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(name)) {
    fail(`database name in DATABASE_URL must match [A-Za-z0-9_]+ (got ${JSON.stringify(name)})`);
  }
  const where = `${url.hostname}:${url.port || 5432}`;
  const user = decodeURIComponent(url.username) || 'postgres';

  let client;
  try {
    client = await connect(url, 'postgres').catch((err) => {
      // A server without the "postgres" database still has template1.
      if (err.code === '3D000') return connect(url, 'template1');
      throw err;
    });
  } catch (err) {
    if (isAuthError(err)) {
      fail(`Postgres at ${where} refused login as "${user}": ${err.message}`, EXIT_AUTH);
    }
    fail(`cannot connect to Postgres at ${where} as "${user}": ${err.message}`);
  }

  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount > 0) {
      console.log(`ensure-database: database "${name}" exists on ${where}`);
      return;
    }
    try {
      await client.query(`CREATE DATABASE "${name}"`);
      console.log(`ensure-database: created database "${name}" on ${where}`);
    } catch (err) {
      if (err.code !== '42P04') throw err; // 42P04: created concurrently by someone else
    }
  } catch (err) {
    fail(`cannot create database "${name}" on ${where} as "${user}": ${err.message}`);
  } finally {
    await client.end().catch(() => {});
  }
}

main().catch((err) => fail(err.message));
