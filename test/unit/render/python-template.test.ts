import { strict as assert } from 'node:assert';
import { substitute, identifiers } from '../../../src/render/python-template.js';

describe('Python string.Template rules', () => {
  const v = { NAME: 'etcd', PORT: '8081', A_1: 'x', SPACE: 'a b $c' };
  it('substitutes $VAR and ${VAR}, $$ is a literal $', () => {
    assert.equal(substitute('$NAME:${PORT} $$HOME ${A_1}z $SPACE', v, 'f'), 'etcd:8081 $HOME xz a b $c');
  });
  it('values are inserted once (no recursive expansion)', () => {
    assert.equal(substitute('$SPACE', v, 'f'), 'a b $c');
  });
  it('a missing variable names the file and key the way atomic did', () => {
    assert.throws(() => substitute('x $VAR_WITH_NO_DEFAULT y', v, '/x/exports/service.template'), (e: Error) => {
      assert.equal(e.message, "The template file '/x/exports/service.template' still contains an unreplaced value for: ''VAR_WITH_NO_DEFAULT''");
      return true;
    });
  });
  it('invalid placeholders report line and column', () => {
    assert.throws(() => substitute('ok\nab $1', v, 'f'), /Invalid placeholder in string: line 2, col 4/);
    assert.throws(() => substitute('${NAME', v, 'f'), /Invalid placeholder in string: line 1, col 1/);
  });
  it('identifiers are found in order, once', () => {
    assert.deepEqual(identifiers('$B ${A} $B $$C $'), ['B', 'A']);
  });
});
