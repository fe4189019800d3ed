/* Generates fnmatch_glibc.txt: random (pattern, string) pairs and glibc's verdict for
 * fnmatch(pattern, string, 0) in the C locale, the way libkmod calls it.
 * Build and run: cc -O2 -o /tmp/fnm fnmatch_glibc.c && /tmp/fnm > fnmatch_glibc.txt */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char palpha[] = "ab-*?[]!^\\:.=z09AZ_ ";
static const char *tokens[] = {"[:alpha:]", "[:digit:]", "[:bogus:]", "[=a=]", "[.a.]",
	"[.-.]", "[a-z]", "[!a]", "[^b]", "[]]", "[!]]", "[a-]", "[-a]", "[z-a]",
	"[[:upper:][:digit:]]", "[\\]]", "[\\", "[:", "[=", "[.", "*", "?", "\\*", "v*",
	"[!", "[a-\\]]", "[[.", "[a-[.z.]]", "[[=", "[[:a", "[[:alpha:]", "[a[:digit:]b]", "[[.ab.]]",
	"[b-a-z]", "[--z]", "[a-[=z=]]", "[[:alpha]"};
static const char salpha[] = "ab-*?[]!^\\:.=z09AZ_v ";

static unsigned long long state = 88172645463325252ULL;
static unsigned rnd(unsigned n) {
	state ^= state << 13; state ^= state >> 7; state ^= state << 17;
	return (unsigned)(state % n);
}

int main(void) {
	char p[64], s[64];
	for (int i = 0; i < 12000; i++) {
		int pl = rnd(8), sl = rnd(9);
		p[0] = 0;
		for (int j = 0; j < pl; j++) {
			if (rnd(4) == 0) {
				strcat(p, tokens[rnd(sizeof(tokens) / sizeof(tokens[0]))]);
			} else {
				size_t l = strlen(p);
				p[l] = palpha[rnd(sizeof(palpha) - 1)];
				p[l + 1] = 0;
			}
		}
		if (rnd(2)) {
			/* Instantiate the pattern roughly, so that many pairs match. */
			int k = 0;
			for (const char *q = p; *q && k < 60; q++) {
				if (*q == '*') {
					for (int r = rnd(3); r > 0 && k < 60; r--)
						s[k++] = salpha[rnd(sizeof(salpha) - 1)];
				} else if (*q == '?' || *q == '[' || rnd(8) == 0) {
					s[k++] = salpha[rnd(sizeof(salpha) - 1)];
					if (*q == '[')
						while (q[1] && q[1] != ']' && rnd(4)) q++;
				} else if (*q != '\\' || rnd(2)) {
					s[k++] = *q;
				}
			}
			s[k] = 0;
		} else {
			for (int j = 0; j < sl; j++)
				s[j] = salpha[rnd(sizeof(salpha) - 1)];
			s[sl] = 0;
		}
		printf("%d\t%s\t%s\n", fnmatch(p, s, 0) == 0, p, s);
	}
	return 0;
}
