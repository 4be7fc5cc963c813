import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';

const FILE = 'tmp/visits.txt';

export async function GET() {
  await mkdir('tmp', { recursive: true });
  const visits = Number(await readFile(FILE, 'utf8').catch(() => '0')) + 1;
  await writeFile(`${FILE}.new`, `${visits}\n`);
  await rename(`${FILE}.new`, FILE);
  return new Response(`visits: ${visits}\n`);
}
