import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/**
 * The documentation is self-contained: every relative link in README.md and
 * docs/*.md leads to a file (and heading) inside this repository, and nothing
 * in the repository points at material outside it. The API reference is
 * docs/api.md; code and docs cite its sections as "docs/api.md, <Heading>".
 */

const ROOT = resolve(__dirname, '..');

// Written so that this file does not contain what it looks for.
const FORBIDDEN: { pattern: RegExp; what: string }[] = [
  { pattern: /shared\/spec/, what: 'a path into the outside spec folder' },
  { pattern: /\.\.\/shared\//, what: 'a path to a folder outside the repository' },
  { pattern: /CONTRACT[\s*#/]*sections?\b/, what: 'a citation of the outside contract' },
  { pattern: /\bCONTRACT\.md\b/, what: 'the outside contract by name' },
  { pattern: /\bARCHITECTURE\.md\b/, what: 'the outside architecture notes by name' },
];

/** Files git tracks, and new ones it does not ignore (so a file not yet added still counts). */
function repositoryFiles(): string[] {
  const output = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const files = output.split('\0').filter((file) => file !== '' && existsSync(join(ROOT, file)));
  return [...new Set(files)].filter((file) => statSync(join(ROOT, file)).isFile());
}

/** The text files among them: a NUL byte marks a binary file. */
function textFiles(files: string[]): { file: string; text: string }[] {
  return files.flatMap((file) => {
    const bytes = readFileSync(join(ROOT, file));
    return bytes.includes(0) ? [] : [{ file, text: bytes.toString('utf8') }];
  });
}

/** Markdown without fenced code blocks and inline code spans, line structure kept. */
function withoutCode(markdown: string): string {
  let fenced = false;
  return markdown
    .split('\n')
    .map((line) => {
      if (/^\s{0,3}(```|~~~)/.test(line)) {
        fenced = !fenced;
        return '';
      }
      return fenced ? '' : line.replace(/`+[^`]*`+/g, '');
    })
    .join('\n');
}

/** Link targets: inline links and images `[text](target "title")`, and reference definitions `[id]: target`. */
function linkTargets(markdown: string): string[] {
  const text = withoutCode(markdown);
  const inline = [...text.matchAll(/\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+["'(][^)]*)?\)/g)].map((m) => m[1]);
  const references = [...text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/gm)].map((m) => m[1]);
  return [...inline, ...references];
}

/** GitHub's anchors for a Markdown file's headings (lower case, punctuation dropped, spaces to hyphens, repeats numbered). */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const title of headings(markdown)) {
    const slug = title
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Heading texts as rendered: inline code and links reduced to their text. */
function headings(markdown: string): string[] {
  let fenced = false;
  const titles: string[] = [];
  for (const line of markdown.split('\n')) {
    if (/^\s{0,3}(```|~~~)/.test(line)) fenced = !fenced;
    const match = fenced ? null : /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (match) titles.push(match[1].replace(/`([^`]*)`/g, '$1').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1'));
  }
  return titles;
}

const isExternal = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');

const insideRoot = (path: string): boolean => {
  const fromRoot = relative(ROOT, path);
  return fromRoot === '' || (!fromRoot.startsWith(`..${sep}`) && fromRoot !== '..' && !isAbsolute(fromRoot));
};

describe('the documentation', () => {
  const files = repositoryFiles();
  const known = new Set(files);
  const directories = new Set(
    files.flatMap((file) =>
      file
        .split('/')
        .slice(0, -1)
        .map((_, i, parts) => parts.slice(0, i + 1).join('/')),
    ),
  );
  const texts = textFiles(files);
  const markdownFiles = files.filter((file) => file === 'README.md' || /^docs\/[^/]+\.md$/.test(file));
  const anchorsOf = (file: string): Set<string> => headingAnchors(readFileSync(join(ROOT, file), 'utf8'));

  /** Why a link from `file` to `target` is broken, or null when it is fine. */
  function brokenLink(file: string, target: string): string | null {
    if (isExternal(target)) return null;
    const [rawPath, fragment] = target.split('#', 2) as [string, string | undefined];
    const path = decodeURIComponent(rawPath.split('?')[0]);
    const resolved =
      path === '' ? join(ROOT, file) : resolve(path.startsWith('/') ? ROOT : dirname(join(ROOT, file)), `.${sep}${path}`);
    if (!insideRoot(resolved)) return 'points outside the repository';
    const fromRoot = relative(ROOT, resolved).split(sep).join('/');
    if (!known.has(fromRoot) && !directories.has(fromRoot) && fromRoot !== '')
      return `names ${fromRoot}, which is not in the repository`;
    if (fragment && fromRoot.endsWith('.md') && !anchorsOf(fromRoot).has(fragment.toLowerCase())) {
      return `names the heading #${fragment}, which ${fromRoot} does not have`;
    }
    return null;
  }

  it('should include README.md and docs/api.md among the checked Markdown files', () => {
    expect(markdownFiles).toEqual(expect.arrayContaining(['README.md', 'docs/api.md', 'docs/errors.md']));
  });

  it('should only link to files and headings inside the repository', () => {
    const broken = markdownFiles.flatMap((file) =>
      linkTargets(readFileSync(join(ROOT, file), 'utf8')).flatMap((target) => {
        const reason = brokenLink(file, target);
        return reason === null ? [] : [`${file}: (${target}) ${reason}`];
      }),
    );

    expect(broken).toEqual([]);
  });

  it('should name only docs/*.md files that exist, wherever a file mentions one', () => {
    const missing = texts.flatMap(({ file, text }) =>
      [...text.matchAll(/(?<![\w/.-])docs\/([\w.-]+\.md)\b/g)]
        .map((m) => `docs/${m[1]}`)
        .filter((doc) => !known.has(doc))
        .map((doc) => `${file}: ${doc}`),
    );

    expect([...new Set(missing)]).toEqual([]);
  });

  it('should cite only sections docs/api.md has, when a file cites "docs/api.md, <Heading>"', () => {
    const titles = headings(readFileSync(join(ROOT, 'docs/api.md'), 'utf8'));
    const unknown = texts.flatMap(({ file, text }) => {
      // Comments wrap: join the lines, dropping comment markers.
      const joined = text.replace(/\s*\n\s*(?:\*(?!\/)|\/\/|#)?\s*/g, ' ');
      return [...joined.matchAll(/docs\/api\.md, ([A-Z][\w-]*(?: [\w-]+)*)/g)]
        .map((m) => m[1])
        .filter((cited) => !titles.some((title) => cited === title || cited.startsWith(`${title} `)))
        .map((cited) => `${file}: "docs/api.md, ${cited}"`);
    });

    expect(unknown).toEqual([]);
  });

  it('should never point at material outside the repository, in any text file', () => {
    const found = texts.flatMap(({ file, text }) =>
      FORBIDDEN.flatMap(({ pattern, what }) => {
        const match = pattern.exec(text);
        if (match === null) return [];
        const line = text.slice(0, match.index).split('\n').length;
        return [`${file}:${line}: "${match[0]}" (${what})`];
      }),
    );

    expect(found).toEqual([]);
  });
});
