/** atomic's y/N prompt: reads one line from stdin; anything but y/yes is "no" (EOF too). */
import * as readline from 'node:readline';

export async function confirm(prompt: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: false });
  process.stdout.write(prompt);
  const answer = await new Promise<string>((resolve) => {
    let done = false;
    rl.once('line', (l) => {
      done = true;
      resolve(l);
    });
    rl.once('close', () => {
      if (!done) resolve('');
    });
  });
  rl.close();
  return /^(y|yes)$/i.test(answer.trim());
}
